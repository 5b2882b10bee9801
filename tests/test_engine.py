"""The engine: checks run through pytest in this process against a sandboxed notebook."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder import engine
from autograder.assignments import ASSIGNMENTS, get_assignment
from autograder.checks import padding_stride
from autograder.notebook import NotebookError
from autograder.registry import max_points

from conftest import REPO_ROOT, learner_from_notebook, run_checks
from hostile import BASE, OTHER_CHECK, pad2d_body, solution_with, write_notebook

NUMPY_ASSIGNMENTS = [a for a in ASSIGNMENTS if a.numpy_only]  # 05 is graded through the CLI in test_cli
SOLUTION = get_assignment(BASE).solution_path


@pytest.mark.parametrize("assignment", NUMPY_ASSIGNMENTS, ids=lambda a: a.id)
def test_every_blank_numpy_exercise_scores_zero_without_crashing(assignment):
    result = engine.grade_notebook(assignment.exercise_path, timeout=20)
    assert result.score == 0 and result.max_score == max_points(assignment)
    assert all(c.status == "failed" for c in result.checks), [c for c in result.checks if c.status != "failed"]
    assert any("not implemented yet" in c.message for c in result.checks)


def test_sandboxed_messages_equal_the_in_process_ones(tmp_path):
    variant = solution_with(tmp_path, pad2d_body("    return x"))
    expected = run_checks(learner_from_notebook(variant), BASE)
    got = {c.id: (c.message or None) for c in engine.grade_notebook(variant).checks}
    assert got == expected
    assert got["02.pad2d.values"] and got[OTHER_CHECK] is None


def test_only_selects_checks_by_glob():
    result = engine.grade_notebook(SOLUTION, only="02.conv_output_size.*")
    assert [c.id for c in result.checks] == ["02.conv_output_size.formula", "02.conv_output_size.errors"]
    assert result.score == result.max_score == 3


def test_only_that_matches_nothing_grades_nothing():
    assert engine.grade_notebook(SOLUTION, only="99.*").checks == []


def test_an_exception_inside_a_check_is_an_internal_error_worth_nothing(monkeypatch):
    @pytest.mark.check(id="02.pad2d.values", points=2)
    def test_pad2d_values(learner):
        raise TypeError("bug in the check")

    monkeypatch.setattr(padding_stride, "test_pad2d_values", test_pad2d_values)
    (check,) = engine.grade_notebook(SOLUTION, only="02.pad2d.values").checks
    assert (check.status, check.earned) == ("error", 0.0)
    assert check.message.startswith("internal error in this check (TypeError: bug in the check)")


def test_the_informational_report_is_added_when_the_checks_module_has_one(monkeypatch):
    monkeypatch.setattr(padding_stride, "own_layers_report", lambda learner: f"pad2d defined: {learner.has('pad2d')}", raising=False)
    assert engine.grade_notebook(SOLUTION, only=OTHER_CHECK).info == "pad2d defined: True"


def test_cell_errors_forbidden_imports_and_output_are_reported(tmp_path):
    variant = solution_with(tmp_path, extra_cells=["print('hello from the notebook')", "import torch", "undefined_name"])
    result = engine.grade_notebook(variant, only=OTHER_CHECK)
    assert result.score == result.max_score == 1
    assert [e.split(":")[1].strip() for e in result.cell_errors] == ["ImportError", "NameError"]
    assert result.forbidden_imports == ["torch"]
    assert result.output == "hello from the notebook\n"


@pytest.mark.parametrize("text, words", [("{not json", "is not a notebook"), ('{"nbformat": 4, "cells": [], "metadata": {}}', "is not one of the course's assignments")])
def test_a_file_that_is_no_course_notebook_is_a_notebook_error(tmp_path, text, words):
    path = tmp_path / "homework.ipynb"
    path.write_text(text)
    with pytest.raises(NotebookError, match=words):
        engine.grade_notebook(path)


def test_grade_many_turns_each_failure_into_a_result_and_keeps_order(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{")
    submissions = [engine.Submission(broken), engine.Submission(SOLUTION)]
    results = engine.grade_many(submissions, only=OTHER_CHECK)
    assert "is not a notebook" in results[0].error and not results[0].internal
    assert results[1].score == 1 and not results[1].error


def test_find_notebooks_searches_folders_and_skips_scratch_notebooks(tmp_path):
    write_notebook(tmp_path / "02-padding-stride" / "padding_stride.ipynb", [], assignment=BASE)
    write_notebook(tmp_path / "scratch" / "Untitled.ipynb", ["1 + 1"])
    write_notebook(tmp_path / ".ipynb_checkpoints" / "padding_stride-checkpoint.ipynb", [], assignment=BASE)
    notebooks, errors, notes = engine.find_notebooks([tmp_path, tmp_path / "missing"])
    assert notebooks == [tmp_path / "02-padding-stride" / "padding_stride.ipynb"]
    assert errors == [f"{tmp_path / 'missing'} does not exist; check the path."]
    assert notes == [f"skipped {tmp_path / 'scratch' / 'Untitled.ipynb'}: not a notebook of a course assignment"]


def test_the_checks_also_run_under_plain_pytest(tmp_path):
    variant = solution_with(tmp_path, pad2d_body("    return x"))
    command = [sys.executable, "-m", "pytest", "-p", "autograder.engine", "--notebook", str(variant), "--only", "02.[ps]*",
               "--pyargs", "autograder.checks.padding_stride", "-q", "-p", "no:cacheprovider", "--disable-plugin-autoload",
               f"--junitxml={tmp_path / 'junit.xml'}"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 2 passed, 8 deselected" in run.stdout  # 02's other public checks and its hidden one
    assert "pad2d(float64 array" in (tmp_path / "junit.xml").read_text()


def test_grading_a_numpy_assignment_imports_neither_torch_nor_nbformat_here():
    code = (
        "import sys; from autograder.engine import grade_notebook; "
        f"r = grade_notebook({str(SOLUTION)!r}, only='02.pad2d.*'); "
        "print(float(r.score), sorted(m for m in ('torch', 'nbformat', 'scipy') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert run.stdout.split() == ["2.0", "[]"], run.stderr


def test_missing_course_data_is_reported_as_a_set_up_problem_not_a_learner_failure(monkeypatch):
    from autograder.data import DataError

    @pytest.mark.check(id="02.pad2d.values", points=2)
    def test_pad2d_values(learner):
        raise DataError("t10k-images-idx3-ubyte.gz is missing; set CNN_COURSE_DATA")

    monkeypatch.setattr(padding_stride, "test_pad2d_values", test_pad2d_values)
    (check,) = engine.grade_notebook(SOLUTION, only="02.pad2d.values").checks
    assert (check.status, check.earned) == ("error", 0.0)
    assert check.message == "cannot grade this check on this machine: t10k-images-idx3-ubyte.gz is missing; set CNN_COURSE_DATA"
