-- The registry: regions with their yearly figures, the rule pack, and institutions as an
-- append-only history of versions (each filing change, suspension, … is a new version; the
-- current one is pointed at by institution.current_version). "As of" a day = the latest version
-- whose effective_date is on or before it.

CREATE TABLE region (
  code         text PRIMARY KEY CHECK (code ~ '^([0-9]{6}|[0-9]{9})$'),
  name         text NOT NULL CHECK (name <> ''),
  level        text NOT NULL CHECK (level IN ('city', 'county', 'township')),
  parent_code  text REFERENCES region (code),
  CHECK ((level = 'city') = (parent_code IS NULL)),
  CHECK ((level = 'township') = (length(code) = 9))
);
CREATE INDEX region_parent ON region (parent_code);

CREATE TABLE region_year (
  code                     text NOT NULL REFERENCES region (code),
  year                     int  NOT NULL CHECK (year BETWEEN 1949 AND 2200),
  population               bigint NOT NULL DEFAULT 0 CHECK (population >= 0),
  seat_target              bigint NOT NULL DEFAULT 0 CHECK (seat_target >= 0),
  average_monthly_fee_fen  bigint NOT NULL DEFAULT 0 CHECK (average_monthly_fee_fen >= 0),
  PRIMARY KEY (code, year)
);

CREATE TABLE rule_value (
  key             text NOT NULL,
  region_code     text NOT NULL DEFAULT '',
  effective_from  date NOT NULL,
  value           int  NOT NULL CHECK (value >= 0),
  source          text NOT NULL DEFAULT '',
  PRIMARY KEY (key, region_code, effective_from)
);
INSERT INTO rule_value (key, effective_from, value, source) VALUES
  ('class.infant.max-children',        '2019-10-08', 10, '托育机构设置标准（试行） 2019'),
  ('class.toddler.max-children',       '2019-10-08', 15, '托育机构设置标准（试行） 2019'),
  ('class.older-toddler.max-children', '2019-10-08', 20, '托育机构设置标准（试行） 2019'),
  ('class.mixed.max-children',         '2019-10-08', 18, '托育机构设置标准（试行） 2019'),
  ('family.max-children',              '2023-10-16',  5, '家庭托育点管理办法（试行） 2023'),
  ('family.children-per-carer',        '2023-10-16',  3, '家庭托育点管理办法（试行） 2023'),
  ('family.min-premises-tenure-years', '2023-10-16',  3, '家庭托育点管理办法（试行） 2023');

CREATE TABLE institution (
  credit_code      text PRIMARY KEY,
  current_version  int  NOT NULL,
  filing_number    text UNIQUE
);

-- One row per version. The columns are what lists, filters and indicators need; `body` is the
-- whole tuoyu.registry.v1.Institution message of that version (protobuf), which Get returns.
CREATE TABLE institution_version (
  credit_code     text NOT NULL REFERENCES institution (credit_code),
  version         int  NOT NULL CHECK (version >= 1),
  event           text NOT NULL,
  effective_date  date NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  recorded_by     text NOT NULL,
  status          text NOT NULL,
  display_name    text NOT NULL,
  mode            int  NOT NULL,
  inclusive       boolean NOT NULL,
  township_code   text NOT NULL,
  county_code     text NOT NULL,
  total_seats     int  NOT NULL CHECK (total_seats >= 0),
  body            bytea NOT NULL,
  PRIMARY KEY (credit_code, version)
);
-- "As of" scans walk institutions in order, newest version first.
CREATE INDEX institution_version_asof ON institution_version (credit_code, version DESC) INCLUDE (effective_date);
CREATE INDEX institution_version_county ON institution_version (county_code, credit_code);

-- Filing receipt numbers: TY-<county>-<year>-<n>, n counted per county and year.
CREATE TABLE filing_sequence (
  county_code  text NOT NULL,
  year         int  NOT NULL,
  last         int  NOT NULL,
  PRIMARY KEY (county_code, year)
);
