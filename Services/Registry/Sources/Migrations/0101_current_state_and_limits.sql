-- The current state of each institution, kept on `institution` beside its current version, so
-- that lists of what stands now (and the anonymous public listing above all) walk an index of
-- exactly the rows they return instead of every institution.
ALTER TABLE institution
  ADD COLUMN status        text,
  ADD COLUMN county_code   text,
  ADD COLUMN township_code text;

UPDATE institution i SET status = v.status, county_code = v.county_code, township_code = v.township_code
FROM institution_version v WHERE v.credit_code = i.credit_code AND v.version = i.current_version;

ALTER TABLE institution
  ALTER COLUMN status SET NOT NULL,
  ALTER COLUMN county_code SET NOT NULL,
  ALTER COLUMN township_code SET NOT NULL;

CREATE INDEX institution_status ON institution (status, credit_code);
CREATE INDEX institution_status_county ON institution (status, county_code, credit_code);
CREATE INDEX institution_status_township ON institution (status, township_code, credit_code);

-- Every rule value is positive (a class size of 0 divides by zero); rows from before are
-- skipped when read. NOT VALID: enforced for every new row, old rows are not re-checked.
ALTER TABLE rule_value ADD CONSTRAINT rule_value_positive CHECK (value >= 1) NOT VALID;
