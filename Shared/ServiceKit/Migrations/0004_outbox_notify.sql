-- Change feed: every commit that adds outbox rows notifies the channel tuoyu_outbox_<schema>
-- (once per transaction: Postgres folds duplicates), so WatchEvents wakes at once instead of at
-- its next poll.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tuoyu_outbox_' || TG_TABLE_SCHEMA, '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
