-- The working-day calendar deadlines are counted in (a filing is decided within 5 working days):
-- the days that differ from the plain week — public holidays that fall on weekdays, and the
-- make-up working days (调休上班) that fall on weekends. Data an admin keeps (PutCalendarDay),
-- seeded with the State Council's schedules (国务院办公厅关于部分节假日安排的通知) for 2025 and
-- 2026.
CREATE TABLE calendar_day (
  day     date PRIMARY KEY,
  kind    text NOT NULL CHECK (kind IN ('holiday', 'workday')),
  name    text NOT NULL DEFAULT '',
  source  text NOT NULL DEFAULT ''
);

INSERT INTO calendar_day (day, kind, name, source)
SELECT d::date, 'holiday', n, s FROM (VALUES
  ('2025-01-01', '2025-01-01', '元旦', '国办发明电〔2024〕12号'),
  ('2025-01-28', '2025-02-04', '春节', '国办发明电〔2024〕12号'),
  ('2025-04-04', '2025-04-06', '清明节', '国办发明电〔2024〕12号'),
  ('2025-05-01', '2025-05-05', '劳动节', '国办发明电〔2024〕12号'),
  ('2025-05-31', '2025-06-02', '端午节', '国办发明电〔2024〕12号'),
  ('2025-10-01', '2025-10-08', '国庆节、中秋节', '国办发明电〔2024〕12号'),
  ('2026-01-01', '2026-01-03', '元旦', '国务院办公厅 2026 年节假日安排'),
  ('2026-02-15', '2026-02-23', '春节', '国务院办公厅 2026 年节假日安排'),
  ('2026-04-04', '2026-04-06', '清明节', '国务院办公厅 2026 年节假日安排'),
  ('2026-05-01', '2026-05-05', '劳动节', '国务院办公厅 2026 年节假日安排'),
  ('2026-06-19', '2026-06-21', '端午节', '国务院办公厅 2026 年节假日安排'),
  ('2026-09-25', '2026-09-27', '中秋节', '国务院办公厅 2026 年节假日安排'),
  ('2026-10-01', '2026-10-07', '国庆节', '国务院办公厅 2026 年节假日安排')
) AS h(f, t, n, s), generate_series(f::date, t::date, interval '1 day') AS d;

INSERT INTO calendar_day (day, kind, name, source) VALUES
  ('2025-01-26', 'workday', '春节调休', '国办发明电〔2024〕12号'),
  ('2025-02-08', 'workday', '春节调休', '国办发明电〔2024〕12号'),
  ('2025-04-27', 'workday', '劳动节调休', '国办发明电〔2024〕12号'),
  ('2025-09-28', 'workday', '国庆节调休', '国办发明电〔2024〕12号'),
  ('2025-10-11', 'workday', '国庆节调休', '国办发明电〔2024〕12号'),
  ('2026-01-04', 'workday', '元旦调休', '国务院办公厅 2026 年节假日安排'),
  ('2026-02-14', 'workday', '春节调休', '国务院办公厅 2026 年节假日安排'),
  ('2026-02-28', 'workday', '春节调休', '国务院办公厅 2026 年节假日安排'),
  ('2026-05-09', 'workday', '劳动节调休', '国务院办公厅 2026 年节假日安排'),
  ('2026-09-20', 'workday', '国庆节调休', '国务院办公厅 2026 年节假日安排'),
  ('2026-10-10', 'workday', '国庆节调休', '国务院办公厅 2026 年节假日安排');
