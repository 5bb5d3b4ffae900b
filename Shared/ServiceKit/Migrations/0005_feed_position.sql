-- Change feed positions. A row's cursor is taken when it is inserted, but transactions commit in
-- another order, so cursor order is not the order in which rows become visible: a reader that
-- followed cursors could pass a row whose transaction commits later, and never see it. Instead,
-- once every transaction that could still commit before a row has finished
-- (txid < xmin of the current snapshot), the row is given the next `position`, in (txid, cursor)
-- order, by one assigner at a time. Positions only ever grow at the end, so a reader that follows
-- positions misses nothing; WatchEvents serves them as the events' cursors.
ALTER TABLE outbox ADD COLUMN position bigint UNIQUE;
CREATE SEQUENCE outbox_position;
CREATE INDEX outbox_unpositioned ON outbox (txid, cursor) WHERE position IS NULL;
