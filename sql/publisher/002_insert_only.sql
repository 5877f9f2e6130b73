-- Publishers are insert-only, enforced by the database for every role, superusers included.
-- Privileges alone would not stop the table owner; these triggers do.
CREATE FUNCTION collector_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'table "%" is insert-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Publishers only ever insert; store a new row instead.';
END;
$$;

-- FOR EACH STATEMENT, so even an UPDATE or DELETE that matches no row fails loudly.
CREATE TRIGGER data_no_update_delete
  BEFORE UPDATE OR DELETE ON data
  FOR EACH STATEMENT EXECUTE FUNCTION collector_reject_change();

CREATE TRIGGER data_no_truncate
  BEFORE TRUNCATE ON data
  FOR EACH STATEMENT EXECUTE FUNCTION collector_reject_change();

-- ENABLE ALWAYS: fire even with session_replication_role = replica, which otherwise skips triggers.
ALTER TABLE data ENABLE ALWAYS TRIGGER data_no_update_delete;
ALTER TABLE data ENABLE ALWAYS TRIGGER data_no_truncate;
