-- The workforce schema. ID numbers are never stored in plain text: a keyed hash (HMAC-SHA256)
-- to match them, a sealed copy (AES-256-GCM) for the roles allowed to read them, and the masked
-- form lists show (first four and last two characters).

-- The registry's institutions and rule values are RegistryView's shared tables (0090).

CREATE TABLE person (
  person_id         bigserial PRIMARY KEY,
  id_key            text NOT NULL,
  id_hash           text NOT NULL UNIQUE,
  id_sealed         bytea NOT NULL,
  id_masked         text NOT NULL,
  birth_date        date NOT NULL,
  display_name      text NOT NULL,
  phone             text NOT NULL DEFAULT '',
  education         int NOT NULL DEFAULT 0,
  experience_years  int NOT NULL DEFAULT 0 CHECK (experience_years BETWEEN 0 AND 80),
  created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE employment (
  employment_id  bigserial PRIMARY KEY,
  person_id      bigint NOT NULL REFERENCES person,
  credit_code    text NOT NULL,
  county_code    text NOT NULL,
  role           int NOT NULL CHECK (role BETWEEN 1 AND 5),
  start_date     date NOT NULL,
  -- The day the person no longer works there (exclusive); NULL while employed.
  end_date       date CHECK (end_date IS NULL OR end_date >= start_date),
  end_reason     text NOT NULL DEFAULT ''
);
CREATE INDEX employment_person ON employment (person_id);
CREATE INDEX employment_institution ON employment (credit_code, employment_id);
CREATE INDEX employment_county ON employment (county_code, employment_id);
-- One open employment per person, institution and role.
CREATE UNIQUE INDEX employment_open ON employment (person_id, credit_code, role) WHERE end_date IS NULL;

CREATE TABLE certificate (
  certificate_id  bigserial PRIMARY KEY,
  person_id       bigint NOT NULL REFERENCES person,
  kind            int NOT NULL CHECK (kind BETWEEN 1 AND 5),
  number          text NOT NULL,
  issuer          text NOT NULL,
  issued          date NOT NULL,
  expires         date CHECK (expires IS NULL OR expires >= issued),
  UNIQUE (person_id, kind, number)
);
CREATE INDEX certificate_issued ON certificate (kind, issued);

CREATE TABLE health_check (
  health_check_id  bigserial PRIMARY KEY,
  person_id        bigint NOT NULL REFERENCES person,
  checked_on       date NOT NULL,
  valid_until      date NOT NULL,
  passed           boolean NOT NULL,
  examiner         text NOT NULL,
  UNIQUE (person_id, checked_on)
);

CREATE TABLE course (
  code   text PRIMARY KEY,
  title  text NOT NULL,
  kind   int NOT NULL CHECK (kind BETWEEN 1 AND 6),
  hours  int NOT NULL CHECK (hours BETWEEN 1 AND 2000)
);

CREATE TABLE training_session (
  session_id   bigserial PRIMARY KEY,
  course_code  text NOT NULL REFERENCES course,
  county_code  text NOT NULL,
  venue        text NOT NULL DEFAULT '',
  starts_on    date NOT NULL,
  ends_on      date NOT NULL CHECK (ends_on >= starts_on),
  capacity     int NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
  -- Never more than the capacity, whatever races: the database refuses it.
  enrolled     int NOT NULL DEFAULT 0 CHECK (enrolled BETWEEN 0 AND capacity)
);

CREATE TABLE enrolment (
  session_id      bigint NOT NULL REFERENCES training_session,
  person_id       bigint NOT NULL REFERENCES person,
  status          int NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 3),
  hours_attended  int NOT NULL DEFAULT 0,
  completed_on    date,
  PRIMARY KEY (session_id, person_id)
);
CREATE INDEX enrolment_person ON enrolment (person_id);
CREATE INDEX enrolment_completed ON enrolment (completed_on) WHERE status = 2;

-- Lifetime bans (终身禁入). Never deleted: an annulment is a recorded decision approved by a
-- second officer.
CREATE TABLE ban (
  ban_id                 bigserial PRIMARY KEY,
  person_id              bigint NOT NULL REFERENCES person,
  case_number            text NOT NULL,
  authority              text NOT NULL,
  decided_on             date NOT NULL,
  reason                 text NOT NULL,
  responsible_for        bigint REFERENCES ban,
  status                 text NOT NULL DEFAULT 'active'
                         CHECK (status IN ('active', 'annulment-pending', 'annulled')),
  recorded_by            text NOT NULL,
  recorded_at            timestamptz NOT NULL DEFAULT now(),
  annul_case_number      text,
  annul_authority        text,
  annul_decided_on       date,
  annul_reason           text,
  annul_recorded_by      text,
  annul_approved_by      text,
  annulled_at            timestamptz,
  UNIQUE (person_id, case_number),
  CHECK (status <> 'annulled' OR annul_approved_by IS DISTINCT FROM annul_recorded_by)
);
-- The bans that stand (pending annulments still stand).
CREATE INDEX ban_standing ON ban (person_id) WHERE status <> 'annulled';

CREATE FUNCTION ban_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'a lifetime ban is never deleted; record an annulment instead';
END
$$;
CREATE TRIGGER ban_never_deleted BEFORE DELETE ON ban FOR EACH ROW EXECUTE FUNCTION ban_never_deleted();
CREATE TRIGGER ban_never_truncated BEFORE TRUNCATE ON ban FOR EACH STATEMENT EXECUTE FUNCTION ban_never_deleted();
