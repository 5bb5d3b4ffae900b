-- The annual inspection plan per level: each filed institution inspected at least so often.
CREATE TABLE plan (
  year                  int NOT NULL,
  level                 int NOT NULL CHECK (level BETWEEN 1 AND 3),
  inspections_per_year  int NOT NULL CHECK (inspections_per_year BETWEEN 0 AND 365),
  PRIMARY KEY (year, level)
);
