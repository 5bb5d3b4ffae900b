-- Change feed: each outbox row records the transaction that wrote it, so WatchEvents sends a row
-- only once every transaction that could still commit an earlier cursor has finished.
ALTER TABLE outbox ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();

-- Cursors of the feeds this service follows, advanced in the same transaction as their effect.
CREATE TABLE feed_cursor (
  source      text PRIMARY KEY,
  last_cursor bigint NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
