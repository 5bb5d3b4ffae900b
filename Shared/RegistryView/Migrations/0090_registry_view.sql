-- RegistryView: what a service that follows the registry's change feed keeps of it (the workforce,
-- inspection): each institution's current status, county, 普惠 flag and seats per class, and the
-- rule pack's values. Applied exactly once per event (feed_cursor, source "registry", updated in
-- the same transaction). A shared table of the services that use it, so numbered in the shared range.

-- What the registry says of each institution, followed through its change feed (exactly once:
-- feed_cursor holds the registry's cursor, updated in the same transaction).
CREATE TABLE institution_view (
  credit_code      text PRIMARY KEY,
  display_name     text NOT NULL DEFAULT '',
  status           text NOT NULL,
  county_code      text NOT NULL DEFAULT '',
  township_code    text NOT NULL DEFAULT '',
  inclusive        boolean NOT NULL DEFAULT false,
  mode             int NOT NULL DEFAULT 0,
  version          int NOT NULL,
  infant_classes   int NOT NULL DEFAULT 0, infant_seats   int NOT NULL DEFAULT 0,
  toddler_classes  int NOT NULL DEFAULT 0, toddler_seats  int NOT NULL DEFAULT 0,
  older_classes    int NOT NULL DEFAULT 0, older_seats    int NOT NULL DEFAULT 0,
  mixed_classes    int NOT NULL DEFAULT 0, mixed_seats    int NOT NULL DEFAULT 0,
  family_seats     int NOT NULL DEFAULT 0,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX institution_view_county ON institution_view (county_code, credit_code);

-- The registry's rule values (staffing ratios among them): the national seed (as the registry's
-- migrations 0100 and 0104 hold it) and the local values put since, from the feed.
CREATE TABLE rule_view (
  key             text NOT NULL,
  region_code     text NOT NULL DEFAULT '',
  effective_from  date NOT NULL,
  value           int  NOT NULL CHECK (value >= 1),
  PRIMARY KEY (key, region_code, effective_from)
);
INSERT INTO rule_view (key, effective_from, value) VALUES
  ('ratio.infant.children-per-carer',        '2019-10-08', 3),
  ('ratio.toddler.children-per-carer',       '2019-10-08', 5),
  ('ratio.older-toddler.children-per-carer', '2019-10-08', 7),
  ('family.children-per-carer',              '2023-10-16', 3);

