-- Audit trail: one row per mutating call, written in the transaction of its change (or, for a
-- refused call, on its own), never updated.
CREATE TABLE audit_log (
  id              bigserial PRIMARY KEY,
  at              timestamptz NOT NULL DEFAULT now(),
  principal       text NOT NULL,
  department      text NOT NULL,
  method          text NOT NULL,
  target          text NOT NULL,
  request_id      text NOT NULL,
  request_digest  text NOT NULL,
  outcome         text NOT NULL
);
CREATE INDEX audit_log_target ON audit_log (target, at);

-- Idempotency: the first result of each request_id, stored with the change it made.
CREATE TABLE idempotency (
  request_id      text PRIMARY KEY,
  method          text NOT NULL,
  request_digest  text NOT NULL,
  response        bytea NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now()
);
