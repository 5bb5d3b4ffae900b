#!/usr/bin/env python3
"""Writes the demo workforce (deterministic, made-up people): people.csv registers everyone with
their certificates, training.csv says who completed the demo pre-job session of which county, and
staff.csv hires them at the demo institutions of 吴兴区 (330502) and 南浔区 (330503). The demo pre-job sessions ran
2024-01-08 to 2024-01-12, before any demo institution was filed. scripts/up
loads them in that order (caregivers must complete pre-job training before they are hired).
Run it again after changing it: python3 deploy/demo/make_workforce.py"""
import csv
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECKS = "10X98765432"


def resident_id(region: str, born: str, seq: int) -> str:
    """A made-up resident ID number with its GB 11643 check character."""
    body = f"{region}{born}{seq:03d}"
    return body + CHECKS[sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11]


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["静", "丽", "敏", "芳", "娟", "婷", "霞", "燕", "玲", "萍", "红", "梅"]

institutions = [row for row in csv.DictReader(open(HERE / "institutions.csv", encoding="utf-8"))
                if row["township"][:6] in ("330502", "330503") and row["mode"] != "family"]

people, training, staff = [], [], []
n = 0
for inst in institutions:
    county = inst["township"][:6]
    # A manager, three caregivers, a health worker and a cook per institution.
    for role in ["manager", "caregiver", "caregiver", "caregiver", "health-worker", "cook"]:
        n += 1
        born = f"19{85 + n % 12:02d}{1 + n % 12:02d}{1 + n % 27:02d}"
        pid = resident_id(county, born, n)
        name = SURNAMES[n % len(SURNAMES)] + GIVEN[n % len(GIVEN)] + ("" if n < 20 else GIVEN[(n // 3) % len(GIVEN)])
        cert = {"caregiver": "nursery-carer", "health-worker": "health-care"}.get(role, "")
        # Every fourth caregiver is not certified yet; some certificates run out soon.
        if role == "caregiver" and n % 4 == 0:
            cert = ""
        people.append({
            "name": name, "id_number": pid, "phone": f"1390572{n:04d}",
            "education": "college" if role in ("manager", "health-worker") else "senior-secondary",
            "experience_years": "6" if role == "manager" else str(n % 5),
            "certificate_kind": cert, "certificate_number": f"ZJ{county}{n:05d}" if cert else "",
            "certificate_issuer": "湖州市人力资源和社会保障局" if cert else "",
            "certificate_issued": f"202{3 + n % 3}-0{1 + n % 9}-15" if cert else "",
            "certificate_expires": (f"202{6 + n % 3}-0{1 + n % 9}-14" if n % 5 else "2026-12-20") if cert else "",
        })
        if role == "caregiver":
            training.append({"id_number": pid, "county": county})
        staff.append({"name": name, "id_number": pid, "credit_code": inst["credit_code"], "role": role,
                      "start_date": inst["effective_date"]})


def write(name, rows):
    with open(HERE / name, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


write("people.csv", people)
write("training.csv", training)
write("staff.csv", staff)
print(f"{len(people)} people, {len(training)} caregivers to train, {len(staff)} employments")
