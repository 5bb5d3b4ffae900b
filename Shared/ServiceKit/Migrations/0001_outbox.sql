-- A service's change-feed outbox: domain events written in the same transaction as
-- the change they describe, read in cursor order by WatchEvents.
CREATE TABLE outbox (
  cursor      bigserial PRIMARY KEY,
  event_type  text        NOT NULL,
  subject     text        NOT NULL,
  payload     jsonb       NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
