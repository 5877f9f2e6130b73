-- A gateway user is an `admin` (may change or delete anyone's annotations) or a plain `user` (only
-- their own). Existing users become plain users, except "admin", whom setup has always created
-- as the collector's administrator.
ALTER TABLE app_user
  ADD COLUMN role text NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user'));
UPDATE app_user SET role = 'admin' WHERE username = 'admin';

-- The gateway edits and deletes annotations for their author or an admin (the service checks who,
-- in the same statement). Only the body and its timestamp may change: never the datum, the author
-- or when it was written.
GRANT UPDATE (body, updated_at), DELETE ON annotation TO collector_gateway;
