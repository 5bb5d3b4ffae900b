-- The subsidy service's own tables: policy (versioned data), budgets, children and enrolments
-- (ID numbers only as the vault's keyed hash and sealed copy), applications and the shares owed
-- on them, payments, the double-entry ledger (immutable), holds, reconciliations.

-- Policy by year and region ('' = every region), a new version per change; the latest version of
-- the most specific region is in force.
CREATE TABLE policy (
  year                   int    NOT NULL CHECK (year BETWEEN 2000 AND 2200),
  region_code            text   NOT NULL,
  version                int    NOT NULL CHECK (version >= 1),
  award_per_seat_fen     bigint NOT NULL CHECK (award_per_seat_fen BETWEEN 0 AND 100000000),
  city_share             int    NOT NULL CHECK (city_share BETWEEN 0 AND 100),
  county_share           int    NOT NULL CHECK (county_share BETWEEN 0 AND 100),
  enrolment_monthly_fen  bigint NOT NULL CHECK (enrolment_monthly_fen BETWEEN 0 AND 10000000),
  milk_monthly_fen       bigint NOT NULL CHECK (milk_monthly_fen BETWEEN 0 AND 10000000),
  reason                 text   NOT NULL,
  put_by                 text   NOT NULL,
  put_at                 timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (year, region_code, version),
  CHECK (city_share + county_share > 0)
);

-- A budget per year, region (the city for the city's shares, a county for its own) and programme.
-- committed_fen grows at approval by an UPDATE sent with the COMMIT (the row's lock is held only
-- while the commit runs); the CHECK refuses what would overspend, so racing approvals cannot.
CREATE TABLE budget (
  year           int    NOT NULL,
  region_code    text   NOT NULL,
  programme      text   NOT NULL CHECK (programme IN ('seat-award', 'enrolment', 'milk')),
  amount_fen     bigint NOT NULL CHECK (amount_fen >= 0),
  committed_fen  bigint NOT NULL DEFAULT 0 CHECK (committed_fen >= 0),
  paid_fen       bigint NOT NULL DEFAULT 0 CHECK (paid_fen >= 0),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (year, region_code, programme),
  -- Named for the rule the service reports when an approval would break it.
  CONSTRAINT "rule:budget.exceeded" CHECK (committed_fen <= amount_fen),
  CHECK (paid_fen <= committed_fen)
);

CREATE TABLE child (
  child_id       bigserial PRIMARY KEY,
  id_key         text   NOT NULL,
  -- Lower-case hex of the vault's keyed hash.
  id_hash        text   NOT NULL UNIQUE,
  sealed         bytea  NOT NULL,
  masked         text   NOT NULL,
  birth_date     date   NOT NULL,
  local_hukou    boolean NOT NULL,
  county_code    text   NOT NULL,
  hardship       boolean NOT NULL DEFAULT false,
  registered_by  text   NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX child_county ON child (county_code, child_id);

CREATE TABLE enrolment (
  enrolment_id  bigserial PRIMARY KEY,
  child_id      bigint NOT NULL REFERENCES child,
  credit_code   text   NOT NULL,
  start_on      date   NOT NULL,
  end_on        date,
  CHECK (end_on IS NULL OR end_on >= start_on)
);
-- At most one open enrolment per child.
CREATE UNIQUE INDEX enrolment_open ON enrolment (child_id) WHERE end_on IS NULL;
CREATE INDEX enrolment_child ON enrolment (child_id, start_on);

CREATE TABLE application (
  application_id   bigserial PRIMARY KEY,
  programme        text   NOT NULL CHECK (programme IN ('seat-award', 'enrolment', 'milk')),
  year             int    NOT NULL,
  county_code      text   NOT NULL,
  credit_code      text   NOT NULL DEFAULT '',
  status           text   NOT NULL DEFAULT 'submitted'
                   CHECK (status IN ('submitted', 'reviewed', 'approved', 'disbursed', 'rejected')),
  -- Seat awards: at most one per acceptance.
  acceptance_id    bigint UNIQUE,
  seats            int    NOT NULL DEFAULT 0 CHECK (seats >= 0),
  -- Monthly programmes: one per child, programme and month, whoever claims it.
  child_id         bigint REFERENCES child,
  month            date,
  gross_fen        bigint NOT NULL CHECK (gross_fen >= 0),
  upper_fen        bigint NOT NULL DEFAULT 0 CHECK (upper_fen >= 0),
  upper_document   text   NOT NULL DEFAULT '',
  policy_version   int    NOT NULL,
  city_share       int    NOT NULL,
  county_share     int    NOT NULL,
  created_by       text   NOT NULL,
  reviewed_by      text   NOT NULL DEFAULT '',
  approved_by      text   NOT NULL DEFAULT '',
  rejected_by      text   NOT NULL DEFAULT '',
  rejection_reason text   NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (programme, child_id, month),
  CHECK (programme <> 'seat-award' OR child_id IS NULL),
  CHECK (programme = 'seat-award' OR (child_id IS NOT NULL AND month IS NOT NULL))
);
CREATE INDEX application_listing ON application (year, county_code, application_id);
CREATE INDEX application_institution ON application (credit_code) WHERE status IN ('submitted', 'reviewed', 'approved');

-- A payer's part of an approved application: an obligation, settled by a payment.
CREATE TABLE share (
  application_id  bigint NOT NULL REFERENCES application,
  payer           text   NOT NULL CHECK (payer IN ('city', 'county')),
  region_code     text   NOT NULL,
  amount_fen      bigint NOT NULL CHECK (amount_fen > 0),
  payment_id      bigint,
  PRIMARY KEY (application_id, payer)
);
CREATE INDEX share_payment ON share (payment_id) WHERE payment_id IS NOT NULL;

-- A payment by one payer (the city's finance or a county's) with its reference, unique per payer.
CREATE TABLE payment (
  payment_id    bigserial PRIMARY KEY,
  payer         text   NOT NULL CHECK (payer IN ('city', 'county')),
  region_code   text   NOT NULL,
  programme     text   NOT NULL,
  reference     text   NOT NULL,
  amount_fen    bigint NOT NULL CHECK (amount_fen > 0),
  paid_on       date   NOT NULL,
  applications  int    NOT NULL,
  paid_by       text   NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (payer, region_code, reference)
);
CREATE INDEX payment_period ON payment (payer, region_code, paid_on);

-- The ledger: transactions of entries summing to zero (debit positive, credit negative). Never
-- changed or deleted: a correction is a new transaction reversing an old one.
CREATE TABLE ledger_txn (
  txn_id          bigserial PRIMARY KEY,
  kind            text   NOT NULL CHECK (kind IN ('approval', 'disbursement', 'reversal')),
  payment_id      bigint REFERENCES payment,
  reverses        bigint UNIQUE REFERENCES ledger_txn,
  recorded_by     text   NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_txn_payment ON ledger_txn (payment_id) WHERE payment_id IS NOT NULL;

CREATE TABLE ledger_entry (
  entry_id        bigserial PRIMARY KEY,
  txn_id          bigint NOT NULL REFERENCES ledger_txn,
  account         text   NOT NULL CHECK (account IN ('expense', 'payable', 'bank')),
  programme       text   NOT NULL,
  region_code     text   NOT NULL,
  payer           text   NOT NULL CHECK (payer IN ('city', 'county')),
  amount_fen      bigint NOT NULL CHECK (amount_fen <> 0),
  application_id  bigint,
  payment_id      bigint
);
CREATE INDEX ledger_entry_txn ON ledger_entry (txn_id);
CREATE INDEX ledger_entry_application ON ledger_entry (application_id) WHERE application_id IS NOT NULL;

CREATE FUNCTION ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is never changed or deleted: record a reversal';
END $$;
CREATE TRIGGER ledger_entry_immutable BEFORE UPDATE OR DELETE ON ledger_entry
  FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON ledger_entry
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_txn_immutable BEFORE UPDATE OR DELETE ON ledger_txn
  FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER ledger_txn_no_truncate BEFORE TRUNCATE ON ledger_txn
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER payment_immutable BEFORE UPDATE OR DELETE ON payment
  FOR EACH ROW EXECUTE FUNCTION ledger_immutable();
CREATE TRIGGER payment_no_truncate BEFORE TRUNCATE ON payment
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable();

-- Every statement that writes entries writes whole transactions: the entries it inserts sum to
-- zero per transaction, or the statement fails.
CREATE FUNCTION ledger_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE unbalanced bigint;
BEGIN
  SELECT txn_id INTO unbalanced FROM new_entries GROUP BY txn_id HAVING sum(amount_fen) <> 0 LIMIT 1;
  IF FOUND THEN RAISE EXCEPTION 'ledger transaction % does not balance', unbalanced; END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_entry_balanced AFTER INSERT ON ledger_entry
  REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_balanced();

-- A critical finding holds an institution's pending payments until every critical order of that
-- inspection is verified.
CREATE TABLE hold (
  inspection_id      bigint PRIMARY KEY,
  credit_code        text   NOT NULL,
  critical_findings  int    NOT NULL CHECK (critical_findings > 0),
  placed_on          date   NOT NULL,
  released_on        date
);
CREATE INDEX hold_active ON hold (credit_code) WHERE released_on IS NULL;

CREATE TABLE hold_verified (
  inspection_id  bigint NOT NULL REFERENCES hold,
  order_id       bigint NOT NULL,
  verified_on    date   NOT NULL,
  PRIMARY KEY (inspection_id, order_id)
);

CREATE TABLE reconciliation (
  reconciliation_id  bigserial PRIMARY KEY,
  payer              text   NOT NULL,
  region_code        text   NOT NULL,
  period_from        date   NOT NULL,
  period_to          date   NOT NULL,
  matched            int    NOT NULL,
  missing            int    NOT NULL,
  unexpected         int    NOT NULL,
  -- The unmatched references with both amounts, as JSON.
  findings           jsonb  NOT NULL,
  reconciled_by      text   NOT NULL,
  reconciled_at      timestamptz NOT NULL DEFAULT now()
);
