-- Staff-to-children ratios per class type (托育机构设置标准（试行） 2019: 乳儿班 1:3, 托小班 1:5,
-- 托大班 1:7), as children per caregiver; the mixed class has no national figure and is set locally.
-- The workforce service checks staffing against them (it keeps these national rows too, and
-- follows the local ones through this service's change feed).
INSERT INTO rule_value (key, effective_from, value, source) VALUES
  ('ratio.infant.children-per-carer',        '2019-10-08', 3, '托育机构设置标准（试行） 2019'),
  ('ratio.toddler.children-per-carer',       '2019-10-08', 5, '托育机构设置标准（试行） 2019'),
  ('ratio.older-toddler.children-per-carer', '2019-10-08', 7, '托育机构设置标准（试行） 2019')
ON CONFLICT DO NOTHING;
