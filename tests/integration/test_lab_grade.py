"""`harness lab grade` on three made-up learners: one right, one with the tutorial's
10.13.31.x typo, one who stopped half-way."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

LABS = Path(__file__).parent / "labs"
COURSE = LABS / "bridge-course.yaml"
LEARNERS = ["right", "typo", "incomplete"]


def test_grade_sheet(work_root, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "lab", "grade", "--workdir", str(work_root),
         "--out", str(tmp_path), str(COURSE),
         *(str(LABS / "transcripts" / name) for name in LEARNERS)],
        capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout + out.stderr
    with (tmp_path / "grades.csv").open() as sheet:
        rows = {row["learner"]: row for row in csv.DictReader(sheet)}
    grades = {name: [rows[name][s] for s in ("custom-bridge", "attach", "static-ip")]
              for name in LEARNERS}
    assert grades == {"right": ["pass", "pass", "pass"],
                      "typo": ["pass", "fail", "fail"],
                      "incomplete": ["pass", "fail", "fail"]}
    assert [rows[name]["passed"] for name in LEARNERS] == ["3/3", "1/3", "1/3"]
    assert "leased 10.13.31." in rows["typo"]["failures"]
    assert "static-ip: nothing typed for this stage" in rows["incomplete"]["failures"]
    assert "Traceback" not in rows["incomplete"]["failures"]
    page = (tmp_path / "grades.html").read_text()
    assert page.count("<tr>") == 4 and "outside 10.13.37.2-10.13.37.254" in page
    assert "right" in out.stdout and "3/3" in out.stdout
