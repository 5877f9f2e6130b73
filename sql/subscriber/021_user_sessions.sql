-- Tokens follow their user's current state, and annotations record their author by id.
--
-- A token carries its user's id (`sub`) and session version (`sv`). The gateway accepts it only
-- while that user exists, is not disabled, and still has that session version. A password change,
-- `collector user disable`, and the `logout` mutation add one to the version, which ends every
-- token issued before; `collector user delete` removes the row.
ALTER TABLE app_user
  ADD COLUMN session_version integer NOT NULL DEFAULT 1,
  ADD COLUMN disabled boolean NOT NULL DEFAULT false;

-- Authorship by id: a username deleted and created again is another user, who may not edit the
-- first one's annotations. `author` stays, as the username shown to readers (the read path is
-- unchanged); the triggers below keep it in step with author_id. Deleting a user keeps their
-- annotations, shown as written by "deleted user".
ALTER TABLE annotation DROP CONSTRAINT annotation_author_fkey;
ALTER TABLE annotation ADD COLUMN author_id uuid REFERENCES app_user (id) ON DELETE SET NULL;
UPDATE annotation a SET author_id = u.id FROM app_user u WHERE u.username = a.author;
-- ON DELETE SET NULL looks a user's annotations up by author_id; so does `collector user list`.
CREATE INDEX annotation_author_id_idx ON annotation (author_id);

-- `author` is derived: the gateway inserts author_id only (it has no INSERT on author), and this
-- trigger writes the username it belongs to. The foreign key's SET NULL (a deleted user) fires it
-- too, because PostgreSQL runs that action as an UPDATE of author_id. A DBA's INSERT that names
-- only `author`, as before this migration, gets the author_id of that username.
CREATE FUNCTION collector_annotation_author() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.author_id IS NOT NULL THEN
    SELECT username INTO NEW.author FROM app_user WHERE id = NEW.author_id;
    IF NOT FOUND THEN
      -- Named like the foreign key it anticipates, so that it maps to the same clear error.
      RAISE EXCEPTION 'no user with id %', NEW.author_id
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'annotation_author_id_fkey';
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    NEW.author := 'deleted user';
  ELSIF NEW.author IS NOT NULL THEN
    SELECT id INTO NEW.author_id FROM app_user WHERE username = NEW.author;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'no user named %', NEW.author
        USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'annotation_author_id_fkey';
    END IF;
  ELSE
    RAISE EXCEPTION 'an annotation needs an author (author_id)' USING ERRCODE = 'not_null_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER annotation_author BEFORE INSERT OR UPDATE OF author_id ON annotation
  FOR EACH ROW EXECUTE FUNCTION collector_annotation_author();

-- What ON UPDATE CASCADE on the old foreign key did: a renamed user's annotations show the new name.
CREATE FUNCTION collector_app_user_renamed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE annotation SET author = NEW.username WHERE author_id = NEW.id;
  RETURN NULL;
END
$$;

CREATE TRIGGER app_user_renamed AFTER UPDATE OF username ON app_user
  FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username)
  EXECUTE FUNCTION collector_app_user_renamed();

-- The gateway inserts exactly the columns it chooses: the datum, the body and the author's id
-- (from the verified token). `author` comes from the trigger; id and timestamps are defaults.
-- REVOKE on the table also drops any column-level INSERT granted before.
REVOKE INSERT ON annotation FROM collector_gateway;
GRANT INSERT (data_id, body, author_id) ON annotation TO collector_gateway;

-- `logout` ends the user's sessions from the gateway: it may raise a session version, and change
-- nothing else about users.
GRANT UPDATE (session_version) ON app_user TO collector_gateway;
