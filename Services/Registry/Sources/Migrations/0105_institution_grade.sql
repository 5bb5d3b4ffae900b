-- The latest credit grade (诚信评价) of each institution, as the inspection service publishes it on
-- its change feed (grade.computed); the public listing shows it.
CREATE TABLE institution_grade (
  credit_code  text PRIMARY KEY,
  grade        text NOT NULL CHECK (grade IN ('A', 'B', 'C', 'D')),
  score        int NOT NULL CHECK (score BETWEEN 0 AND 100),
  as_of        date NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
