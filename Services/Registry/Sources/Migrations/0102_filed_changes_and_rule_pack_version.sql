-- `institution` holds each current version whole — its body and the columns lists filter on —
-- so that Get reads one row and a list walks one index of exactly the rows it returns, with no
-- join to the version history.
ALTER TABLE institution
  ADD COLUMN mode      int,
  ADD COLUMN inclusive boolean,
  ADD COLUMN body      bytea;

UPDATE institution i SET mode = v.mode, inclusive = v.inclusive, body = v.body
FROM institution_version v WHERE v.credit_code = i.credit_code AND v.version = i.current_version;

ALTER TABLE institution
  ALTER COLUMN mode SET NOT NULL,
  ALTER COLUMN inclusive SET NOT NULL,
  ALTER COLUMN body SET NOT NULL;

CREATE INDEX institution_county ON institution (county_code, credit_code);
CREATE INDEX institution_township ON institution (township_code, credit_code);

-- Indicators read what was filed on a day from changes kept per day and township, not from every
-- institution's whole history: each new version adds its own contribution (when filed) and takes
-- back its predecessor's, on its effective date. What stood filed at the end of day D in a
-- township = the sum of its changes on or before D (versions never go back in time, so the sums
-- telescope to the version in force). Kept by the service in the transaction that appends the
-- version.
CREATE TABLE filed_change (
  day                     date   NOT NULL,
  county_code             text   NOT NULL,
  township_code           text   NOT NULL,
  institutions            bigint NOT NULL DEFAULT 0,
  seats                   bigint NOT NULL DEFAULT 0,
  inclusive_institutions  bigint NOT NULL DEFAULT 0,
  inclusive_seats         bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (day, county_code, township_code)
);

INSERT INTO filed_change (day, county_code, township_code, institutions, seats, inclusive_institutions, inclusive_seats)
SELECT day, county_code, township_code, sum(n), sum(s), sum(ni), sum(si) FROM (
  SELECT v.effective_date AS day, v.county_code, v.township_code, 1 AS n, v.total_seats::bigint AS s,
    CASE WHEN v.inclusive THEN 1 ELSE 0 END AS ni, CASE WHEN v.inclusive THEN v.total_seats ELSE 0 END::bigint AS si
  FROM institution_version v WHERE v.status = 'filed'
  UNION ALL
  SELECT v.effective_date, p.county_code, p.township_code, -1, -p.total_seats::bigint,
    CASE WHEN p.inclusive THEN -1 ELSE 0 END, -(CASE WHEN p.inclusive THEN p.total_seats ELSE 0 END)::bigint
  FROM institution_version v
  JOIN institution_version p ON p.credit_code = v.credit_code AND p.version = v.version - 1
  WHERE p.status = 'filed'
) c
GROUP BY day, county_code, township_code;

-- The same changes summed per year, so that what stood at the end of a year (what indicators
-- ask) sums a few rows per township and year however many days had changes.
CREATE TABLE filed_change_year (
  year                    int    NOT NULL,
  county_code             text   NOT NULL,
  township_code           text   NOT NULL,
  institutions            bigint NOT NULL DEFAULT 0,
  seats                   bigint NOT NULL DEFAULT 0,
  inclusive_institutions  bigint NOT NULL DEFAULT 0,
  inclusive_seats         bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (year, county_code, township_code)
);

INSERT INTO filed_change_year (year, county_code, township_code, institutions, seats, inclusive_institutions, inclusive_seats)
SELECT extract(year FROM day)::int, county_code, township_code, sum(institutions), sum(seats),
  sum(inclusive_institutions), sum(inclusive_seats)
FROM filed_change GROUP BY 1, 2, 3;

-- The rule pack's version, raised by every statement that changes a rule value. The service
-- keeps the pack in memory and reads this number in the same statement as a filing's region (no
-- extra round trip): a different number means the pack changed and is read again.
CREATE TABLE rule_pack_version (
  only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  version   bigint  NOT NULL
);
INSERT INTO rule_pack_version VALUES (true, 1);

CREATE FUNCTION rule_pack_changed() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  UPDATE rule_pack_version SET version = version + 1;
  RETURN NULL;
END $$;

CREATE TRIGGER rule_value_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rule_value
  FOR EACH STATEMENT EXECUTE FUNCTION rule_pack_changed();
