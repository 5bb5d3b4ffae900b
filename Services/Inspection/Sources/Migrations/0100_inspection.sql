-- The inspection schema: versioned checklists, inspections with a result per item (immutable once
-- finalised — the database refuses edits), rectification orders, the rule tables (deadlines,
-- credit weights), and acceptances of new 普惠 seats. Institutions come from RegistryView (0090).

CREATE TABLE checklist (
  version       int PRIMARY KEY CHECK (version >= 1),
  title         text NOT NULL,
  published_by  text NOT NULL,
  published_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE checklist_item (
  version   int NOT NULL REFERENCES checklist,
  code      text NOT NULL,
  category  int NOT NULL CHECK (category BETWEEN 1 AND 7),
  text      text NOT NULL,
  severity  int NOT NULL CHECK (severity BETWEEN 1 AND 3),
  PRIMARY KEY (version, code)
);

-- The demo checklist (version 1): 托育机构安全检查 as the plans list its fields.
INSERT INTO checklist (version, title, published_by) VALUES (1, '托育机构安全检查表（示例）', 'seed');
INSERT INTO checklist_item (version, code, category, text, severity) VALUES
  (1, 'BLD-01', 1, '房屋建筑安全，无危房，场地位于一层至三层', 3),
  (1, 'BLD-02', 1, '门窗、楼梯、阳台防护设施完好', 2),
  (1, 'BLD-03', 1, '户外活动场地安全，无尖锐突出物', 1),
  (1, 'FIRE-01', 2, '消防验收或检查合格，疏散通道畅通', 3),
  (1, 'FIRE-02', 2, '灭火器材配备齐全且在有效期内', 2),
  (1, 'FIRE-03', 2, '定期开展消防演练并有记录', 1),
  (1, 'FOOD-01', 3, '持有效食品经营许可证，从业人员持健康证', 3),
  (1, 'FOOD-02', 3, '食品留样48小时以上，每餐次不少于125克', 2),
  (1, 'FOOD-03', 3, '餐具消毒记录完整', 1),
  (1, 'SAFE-01', 4, '视频监控全覆盖，录像保存90天以上', 2),
  (1, 'SAFE-02', 4, '婴幼儿接送交接制度落实', 2),
  (1, 'SAFE-03', 4, '无虐待、体罚或变相体罚婴幼儿行为', 3),
  (1, 'HYG-01', 5, '卫生评价合格，保健室设置符合要求', 2),
  (1, 'HYG-02', 5, '晨午检和全日健康观察记录完整', 1),
  (1, 'HYG-03', 5, '传染病报告和消毒隔离制度落实', 2),
  (1, 'STAFF-01', 6, '保育人员与婴幼儿比例符合标准', 2),
  (1, 'STAFF-02', 6, '从业人员持证上岗、体检合格', 2),
  (1, 'STAFF-03', 6, '从业人员无违法犯罪记录（未被终身禁入）', 3),
  (1, 'REC-01', 7, '收托协议、考勤和安全台账完整', 1),
  (1, 'REC-02', 7, '突发事件应急预案并定期演练', 1);

CREATE TABLE inspection (
  inspection_id      bigserial PRIMARY KEY,
  credit_code        text NOT NULL,
  institution_name   text NOT NULL,
  county_code        text NOT NULL,
  level              int NOT NULL CHECK (level BETWEEN 1 AND 3),
  kind               int NOT NULL CHECK (kind BETWEEN 1 AND 5),
  inspected_on       date NOT NULL,
  inspectors         text[] NOT NULL,
  co_departments     int[] NOT NULL DEFAULT '{}',
  checklist_version  int NOT NULL REFERENCES checklist,
  recorded_by        text NOT NULL,
  corrects           bigint REFERENCES inspection,
  finalised          boolean NOT NULL DEFAULT false,
  finalised_at       timestamptz,
  minor_failures     int NOT NULL DEFAULT 0,
  major_failures     int NOT NULL DEFAULT 0,
  critical_failures  int NOT NULL DEFAULT 0
);
CREATE INDEX inspection_institution ON inspection (credit_code, inspected_on);
CREATE INDEX inspection_county ON inspection (county_code, inspection_id);

CREATE TABLE inspection_result (
  inspection_id  bigint NOT NULL REFERENCES inspection,
  code           text NOT NULL,
  outcome        int NOT NULL CHECK (outcome BETWEEN 1 AND 3),
  note           text NOT NULL DEFAULT '',
  severity       int NOT NULL DEFAULT 0,
  PRIMARY KEY (inspection_id, code)
);

-- A finalised inspection never changes: corrections are new records.
CREATE FUNCTION inspection_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'inspection' THEN
    IF OLD.finalised THEN RAISE EXCEPTION 'inspection % is finalised and cannot change', OLD.inspection_id; END IF;
    IF TG_OP = 'DELETE' THEN RAISE EXCEPTION 'an inspection is never deleted'; END IF;
    RETURN NEW;
  END IF;
  IF EXISTS (SELECT 1 FROM inspection WHERE inspection_id = coalesce(NEW.inspection_id, OLD.inspection_id) AND finalised) THEN
    RAISE EXCEPTION 'inspection % is finalised and its results cannot change', coalesce(NEW.inspection_id, OLD.inspection_id);
  END IF;
  RETURN coalesce(NEW, OLD);
END
$$;
CREATE TRIGGER inspection_immutable BEFORE UPDATE OR DELETE ON inspection
  FOR EACH ROW EXECUTE FUNCTION inspection_immutable();
CREATE TRIGGER inspection_result_immutable BEFORE INSERT OR UPDATE OR DELETE ON inspection_result
  FOR EACH ROW EXECUTE FUNCTION inspection_immutable();

-- Rectification deadlines by severity, in days, by the day they take effect.
CREATE TABLE deadline_rule (
  effective_from  date PRIMARY KEY,
  critical_days   int NOT NULL CHECK (critical_days BETWEEN 1 AND 365),
  major_days      int NOT NULL CHECK (major_days BETWEEN 1 AND 365),
  minor_days      int NOT NULL CHECK (minor_days BETWEEN 1 AND 365)
);
INSERT INTO deadline_rule VALUES ('2020-01-01', 3, 15, 30);

CREATE TABLE rectification_order (
  order_id       bigserial PRIMARY KEY,
  inspection_id  bigint NOT NULL REFERENCES inspection,
  credit_code    text NOT NULL,
  county_code    text NOT NULL,
  item_code      text NOT NULL,
  severity       int NOT NULL CHECK (severity BETWEEN 1 AND 3),
  deadline       date NOT NULL,
  status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'rectified', 'verified')),
  reported_on    date,
  verified_on    date,
  note           text NOT NULL DEFAULT '',
  UNIQUE (inspection_id, item_code)
);
CREATE INDEX order_institution ON rectification_order (credit_code, order_id);
CREATE INDEX order_county ON rectification_order (county_code, order_id);

-- Credit evaluation weights and bands (诚信评价), versioned; the latest applies.
CREATE TABLE credit_rule (
  version          int PRIMARY KEY,
  minor_points     int NOT NULL CHECK (minor_points >= 0),
  major_points     int NOT NULL CHECK (major_points >= 0),
  critical_points  int NOT NULL CHECK (critical_points >= 0),
  overdue_points   int NOT NULL CHECK (overdue_points >= 0),
  a_from           int NOT NULL,
  b_from           int NOT NULL,
  c_from           int NOT NULL,
  critical_cap     text NOT NULL CHECK (critical_cap IN ('A', 'B', 'C', 'D')),
  CHECK (a_from > b_from AND b_from > c_from AND c_from > 0)
);
INSERT INTO credit_rule VALUES (1, 2, 5, 20, 10, 90, 75, 60, 'C');

CREATE TABLE acceptance (
  acceptance_id      bigserial PRIMARY KEY,
  year               int NOT NULL,
  credit_code        text NOT NULL,
  institution_name   text NOT NULL,
  county_code        text NOT NULL,
  inspection_id      bigint NOT NULL UNIQUE REFERENCES inspection,
  accepted_seats     int NOT NULL CHECK (accepted_seats >= 1),
  confirmed_seats    int CHECK (confirmed_seats BETWEEN 0 AND accepted_seats),
  status             text NOT NULL DEFAULT 'county-accepted' CHECK (status IN ('county-accepted', 'city-confirmed')),
  adjustment_reason  text NOT NULL DEFAULT '',
  accepted_by        text NOT NULL,
  confirmed_by       text
);
CREATE INDEX acceptance_institution ON acceptance (credit_code);
CREATE INDEX acceptance_year ON acceptance (year, county_code);
