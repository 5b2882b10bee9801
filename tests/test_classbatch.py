"""``--batch DIR --roster FILE --out FOLDER``: one row per roster learner, per-learner results.json
and feedback (Markdown, HTML), tampered test cells noted, a summary even with -q; PrairieLearn's
results.json; the feedback of hidden checks only with --show-hidden."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.assignments import get_assignment
from autograder.classroom.classbatch import RosterError, read_roster
from autograder.classroom.feedback import Feedback, html_page, markdown
from autograder.classroom.prairielearn import results as prairielearn_results
from autograder.engine import CheckResult, NotebookResult
from autograder.paths import REPO_ROOT

from hostile import BASE, PAD2D_AND_OTHER, pad2d_body, solution_with

ROSTER = "student_id,name\nalice,Alice\nbob,Bob\ncarol,Carol\ndave,Dave\nerin,Erin\nfrank,Frank\n"


def grade(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def without_test_cell(notebook: Path, grade_id: str) -> None:
    data = json.loads(notebook.read_text(encoding="utf-8"))
    data["cells"] = [c for c in data["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != grade_id]
    notebook.write_text(json.dumps(data), encoding="utf-8")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """A class of five submissions and a roster of six, graded from a scratch folder with the
    default --out (grades/ there)."""
    work = tmp_path_factory.mktemp("class")
    batch = work / "submitted"
    solution_with(batch / "alice")
    blank = batch / "bob" / BASE / "padding_stride.ipynb"
    blank.parent.mkdir(parents=True)
    shutil.copy(get_assignment(BASE).exercise_path, blank)
    solution_with(batch / "carol", pad2d_body("    return x"))
    without_test_cell(solution_with(batch / "dave"), "02_pad2d_values")
    broken = batch / "erin" / BASE / "padding_stride.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{ this is not a notebook")
    (work / "roster.csv").write_text(ROSTER)
    repo_had_grades = (REPO_ROOT / "grades").exists()
    run = grade("--batch", batch, "--roster", work / "roster.csv", "--only", PAD2D_AND_OTHER, "--jobs", "2", "-q", cwd=work)
    assert (REPO_ROOT / "grades").exists() == repo_had_grades
    return run, work


def test_every_roster_learner_gets_one_row_with_what_went_wrong(graded: tuple[subprocess.CompletedProcess, Path]) -> None:
    run, work = graded
    assert run.returncode == 0, run.stderr
    rows = {r["learner"]: r for r in csv.DictReader((work / "grades" / "grades.csv").open())}
    assert sorted(rows) == ["alice", "bob", "carol", "dave", "erin", "frank"]
    assert {k: (r["score"], r["max_score"]) for k, r in rows.items()} == {
        "alice": ("4", "4"), "bob": ("0", "4"), "carol": ("2", "4"), "dave": ("4", "4"), "erin": ("0", "0"), "frank": ("0", "4"),
    }
    assert rows["frank"]["error"] == "no submission" and rows["frank"]["assignment"] == BASE
    assert rows["dave"]["error"].startswith("test cells deleted: 02_pad2d_values (graded from the registry anyway")
    assert "is not a notebook" in rows["erin"]["error"] and rows["alice"]["error"] == ""


def test_each_learner_gets_results_json_and_feedback_in_markdown_and_html(graded: tuple[subprocess.CompletedProcess, Path]) -> None:
    _, work = graded
    for learner in ("alice", "bob", "carol", "dave", "erin", "frank"):
        folder = work / "grades" / learner / BASE
        assert sorted(p.name for p in folder.iterdir()) == ["feedback.html", "feedback.md", "results.json"], learner
    carol = work / "grades" / "carol" / BASE
    assert json.loads((carol / "results.json").read_text())["score"] == 2
    feedback = (carol / "feedback.md").read_text()
    assert feedback.startswith(f"# {BASE}: feedback for carol\n\n**2/4 points**") and "## ✗ `02.pad2d.values`: 0/2" in feedback and "pad2d(" in feedback
    assert "<h1>02-padding-stride: feedback for carol</h1>" in (carol / "feedback.html").read_text()
    assert "no submission" in (work / "grades" / "frank" / BASE / "feedback.md").read_text()


def test_the_summary_table_shows_even_with_quiet(graded: tuple[subprocess.CompletedProcess, Path]) -> None:
    run, _ = graded
    assert "Batch summary" in run.stdout and all(name in run.stdout for name in ("alice", "frank", "no submission"))


def test_a_roster_is_one_id_a_line_or_a_learner_column_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("# section A\nalice\n\nbob\nalice\n")
    (tmp_path / "class.csv").write_text("Name,Email\nAlice,alice@x.org\nBob,bob@x.org\n")
    (tmp_path / "nothing.csv").write_text("name,grade\nAlice,A\n")
    assert read_roster(tmp_path / "plain.txt") == ["alice", "bob"]
    assert read_roster(tmp_path / "class.csv") == ["alice@x.org", "bob@x.org"]
    with pytest.raises(RosterError, match="is a CSV without a learner column; name one of: learner, student"):
        read_roster(tmp_path / "nothing.csv")
    run = grade("--batch", tmp_path, "--roster", tmp_path / "missing.txt", cwd=tmp_path)
    assert run.returncode == 2 and run.stderr.count("\n") == 1


def _result(hidden_passed: bool) -> NotebookResult:
    checks = [
        CheckResult("02.pad2d.values", "pad2d pads", 2, 2, "passed"),
        CheckResult("02.conv2d_forward.hidden_large", "a hidden case", 1, 1 if hidden_passed else 0, "passed" if hidden_passed else "failed", "" if hidden_passed else "secret case differs", 0.0, True),
    ]
    return NotebookResult(path=Path("alice/02/padding_stride.ipynb"), assignment=BASE, checks=checks)


def test_feedback_shows_hidden_checks_only_when_asked() -> None:
    result = _result(hidden_passed=False)
    assert "hidden_large" not in markdown(Feedback("alice", result)) and "secret" not in html_page(Feedback("alice", result))
    assert "**2/2 points**" in markdown(Feedback("alice", result))
    shown = markdown(Feedback("alice", result, show_hidden=True))
    assert "**2/3 points**" in shown and "`02.conv2d_forward.hidden_large` (hidden): 0/1" in shown and "secret case differs" in shown


def test_prairielearn_results_have_its_documented_fields(tmp_path: Path) -> None:
    data = prairielearn_results([_result(hidden_passed=False)])
    assert data["gradable"] is True and data["score"] == pytest.approx(2 / 3) and data["message"] == "2/3 points"
    assert [{k: t[k] for k in ("name", "points", "max_points")} for t in data["tests"]] == [
        {"name": "02.pad2d.values", "points": 2, "max_points": 2}, {"name": "02.conv2d_forward.hidden_large", "points": 0, "max_points": 1},
    ]
    assert all(isinstance(t["description"], str) and isinstance(t["message"], str) and isinstance(t["output"], str) for t in data["tests"])
    broken = NotebookResult(path=Path("x.ipynb"), assignment="", error="x.ipynb is not a notebook")
    assert prairielearn_results([broken]) == {"gradable": False, "score": 0.0, "message": "the submission could not be graded; x.ipynb: x.ipynb is not a notebook", "output": "x.ipynb: x.ipynb is not a notebook", "tests": []}
    notebook = solution_with(tmp_path / "work", pad2d_body("    return x"))
    run = grade(notebook, "--only", PAD2D_AND_OTHER, "--prairielearn", tmp_path / "pl.json", "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    written = json.loads((tmp_path / "pl.json").read_text())
    assert written["gradable"] and written["score"] == 0.5 and written["message"] == "2/4 points"
