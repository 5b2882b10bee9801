"""Hidden checks: registered with hidden=True, one locked nbgrader test cell each in solutions/
(stripped from exercises/), counted by official grading only, reported after publication."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autograder import engine, report
from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.classroom.consistency import BEGIN_HIDDEN, mismatches
from autograder.classroom.official import is_official
from autograder.oracles import build_oracles, load_oracles
from autograder.registry import checks_for, max_points

from conftest import blank_replacements, learner_from_notebook, write_variant

WITH_SOLUTION = [pytest.param(a, id=a.id) for a in ASSIGNMENTS if a.solution_path.exists()]
# corr2d that fills only its first 9 rows: right on every public case (at most 9 rows),
# wrong on the hidden 28x28 images.
ROWS_CLIPPED = {"for i in range(out.shape[0]):": "for i in range(min(out.shape[0], 9)):"}


@pytest.mark.parametrize("assignment", WITH_SOLUTION)
def test_registry_and_solution_notebook_agree_on_every_check_and_its_points(assignment: Assignment) -> None:
    problems = mismatches(assignment)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("assignment", WITH_SOLUTION)
def test_every_assignment_has_hidden_checks_whose_code_nbgrader_strips_from_the_exercise(assignment: Assignment) -> None:
    hidden = [c for c in checks_for(assignment, include_hidden=True) if c.hidden]
    assert hidden, (
        f"{assignment.id} has no hidden check: add one with @check(..., hidden=True) after the HIDDEN CHECKS line at the "
        f"end of autograder/checks/{assignment.checks_module}.py, and its test cell in {assignment.solution_path.name} (CONTRIBUTING.md)"
    )
    assert not any(c.hidden for c in checks_for(assignment))
    exercise = assignment.exercise_path.read_text(encoding="utf-8")
    assert BEGIN_HIDDEN in assignment.solution_path.read_text(encoding="utf-8") and BEGIN_HIDDEN not in exercise
    assert not [c.id for c in hidden if c.id in exercise]


def test_a_disagreement_names_the_file_to_update(tmp_path: Path) -> None:
    assignment = get_assignment("01")
    data = json.loads(assignment.solution_path.read_text(encoding="utf-8"))
    cells = data["cells"]
    hidden = next(c for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith("hidden_"))
    hidden["metadata"]["nbgrader"]["points"] = 5
    cells.remove(next(c for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id") == "01_corr2d_random"))
    copy = tmp_path / assignment.notebook
    copy.write_text(json.dumps(data), encoding="utf-8")
    problems = mismatches(assignment, copy)
    assert len(problems) == 2, problems
    assert "01.corr2d.hidden_large is worth 1 points in autograder/checks/convolution.py but 5 in" in problems[0]
    assert problems[1].startswith("01.corr2d.random (check in autograder/checks/convolution.py) has no test cell in ")


@pytest.mark.parametrize("assignment", WITH_SOLUTION)
def test_hidden_checks_pass_on_the_solution_and_fail_on_the_blank(assignment: Assignment, tmp_path: Path) -> None:
    hidden = [c for c in checks_for(assignment, include_hidden=True) if c.hidden]
    solution = learner_from_notebook(assignment.solution_path)
    blank = learner_from_notebook(write_variant(assignment.id, blank_replacements(assignment.id), tmp_path))
    for check in hidden:
        check.func(solution)
        with pytest.raises(AssertionError, match="not implemented yet"):
            check.func(blank)


@pytest.mark.parametrize("assignment", WITH_SOLUTION)
def test_hidden_oracle_fixtures_are_fresh(assignment: Assignment) -> None:
    fresh, stored = build_oracles(assignment, hidden=True), load_oracles(assignment.id, hidden=True)
    assert fresh.keys() == stored.keys() and fresh
    for key in fresh:
        assert fresh[key].shape == stored[key].shape and np.allclose(fresh[key], stored[key], rtol=0, atol=1e-12), key


def test_official_grading_counts_hidden_points_and_a_learners_local_grade_does_not(tmp_path: Path) -> None:
    assignment = get_assignment("01")
    public, every = max_points(assignment), max_points(assignment, include_hidden=True)
    assert every > public
    bug = write_variant(assignment.id, ROWS_CLIPPED, tmp_path / "bug")
    solution_official = engine.grade_notebook(assignment.solution_path, include_hidden=True)
    bug_official = engine.grade_notebook(bug, include_hidden=True)
    bug_local = engine.grade_notebook(bug)
    assert (solution_official.score, solution_official.max_score) == (every, every)
    assert (bug_local.score, bug_local.max_score) == (public, public)
    assert (bug_official.score, bug_official.max_score) == (every - 1, every)
    assert [c.id for c in bug_official.checks if not c.passed] == ["01.corr2d.hidden_large"]
    tests = report.gradescope([bug_official], 1.0)["tests"]
    assert {t["number"]: t["visibility"] for t in tests if t["visibility"] != "visible"} == {"01.corr2d.hidden_large": "after_published"}


def test_official_grading_is_batch_strict_official_or_ci_and_local_wins() -> None:
    assert not is_official(environ={})
    assert not is_official(environ={"CI": "false"})
    assert all(is_official(environ={}, **{flag: True}) for flag in ("official", "batch", "strict"))
    assert is_official(environ={"CI": "true"}) and is_official(environ={"CI": "1"})
    assert not is_official(local=True, batch=True, environ={"CI": "true"})


def test_a_hidden_check_above_the_marker_or_a_public_one_below_it_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autograder.classroom.consistency import _hidden_before_marker
    from autograder.registry import HIDDEN_CHECKS_MARKER, Check

    (tmp_path / "fake_checks.py").write_text(f"def test_early(learner):\n    pass\n\n{HIDDEN_CHECKS_MARKER}\n\ndef test_late(learner):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fake_checks

    wrong = [Check("09.f.early", "t", 1, fake_checks.test_early, hidden=True), Check("09.f.late", "t", 1, fake_checks.test_late)]
    right = [Check("09.f.early", "t", 1, fake_checks.test_early), Check("09.f.late", "t", 1, fake_checks.test_late, hidden=True)]
    problems = _hidden_before_marker(wrong, "fake_checks.py")
    assert len(problems) == 2 and "hidden check 09.f.early must follow the line" in problems[0] and "public check 09.f.late sits below" in problems[1]
    assert _hidden_before_marker(right, "fake_checks.py") == []
