"""The command line: exit codes, reports (terminal, Gradescope JSON, JUnit, CSV), --only,
--batch, --jobs, and learner files left as they were."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from autograder import cli
from autograder.assignments import ASSIGNMENTS, get_assignment
from autograder.reference.weights import sha256_file
from autograder.registry import max_points

from conftest import REPO_ROOT
from hostile import BASE, OTHER_CHECK, PAD2D_AND_OTHER, pad2d_body, solution_with

SOLUTION = get_assignment(BASE).solution_path


def grade(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` as a learner runs it: CI=true (official grading) unset."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300, env=env)


@pytest.fixture
def variant(tmp_path: Path) -> Path:
    """02 with a pad2d that forgets to pad: 2 of the selected 4 points lost."""
    return solution_with(tmp_path / "work", pad2d_body("    return x"))


def notebook_scores(results_json: Path) -> dict[str, tuple[float, float, str]]:
    """assignment -> (score, max_score, error) from the Gradescope JSON's extra data."""
    data = json.loads(results_json.read_text())
    return {n["assignment"]: (n["score"], n["max_score"], n["error"]) for n in data["extra_data"]["notebooks"]}


def failures(results_json: Path) -> dict[str, str]:
    return {t["number"]: t["output"] for t in json.loads(results_json.read_text())["tests"] if t["status"] != "passed"}


def test_numpy_solutions_score_full_marks_through_the_cli(tmp_path):
    # 06's accuracy gate trains for a minute; the nbgrader parity test grades its solution through the CLI.
    assignments = [a for a in ASSIGNMENTS if a.numpy_only and a.id != "06-training"]
    run = grade(*(a.solution_path for a in assignments), "--json", tmp_path / "r.json", "--fail-under", "100", "--quiet", "--jobs", "2")
    assert run.returncode == 0, failures(tmp_path / "r.json") or run.stderr
    assert notebook_scores(tmp_path / "r.json") == {a.id: (max_points(a), max_points(a), "") for a in assignments}


@pytest.mark.slow
def test_the_architectures_solution_scores_full_marks_and_its_blank_exercise_zero(tmp_path):
    pytest.importorskip("torch")
    assignment = get_assignment("05")
    blank = tmp_path / "blank" / assignment.id / assignment.notebook  # apart, so the report tells them apart
    blank.parent.mkdir(parents=True)
    shutil.copy(assignment.exercise_path, blank)
    run = grade(assignment.solution_path, blank, "--json", tmp_path / "r.json", "--quiet", "--jobs", "2", "--timeout", "60")
    assert run.returncode == 0, run.stderr
    notebooks = json.loads((tmp_path / "r.json").read_text())["extra_data"]["notebooks"]
    assert [(n["score"], n["max_score"]) for n in notebooks] == [(max_points(assignment),) * 2, (0, max_points(assignment))], failures(tmp_path / "r.json")


def test_json_follows_gradescopes_schema_and_junit_counts_the_failures(variant, tmp_path):
    run = grade(variant, "--only", PAD2D_AND_OTHER, "--json", tmp_path / "r.json", "--junit", tmp_path / "r.xml")
    assert run.returncode == 0, run.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert {"score", "max_score", "execution_time", "output", "tests"} <= results.keys()
    assert (results["score"], results["max_score"]) == (2, 4)
    assert [t["name"].split()[0] for t in results["tests"]] == ["02.same_padding.values", "02.same_padding.errors", "02.pad2d.values"]
    pad = results["tests"][2]
    assert pad["name"] == "02.pad2d.values pad2d adds zeros on both sides of H and W"
    assert (pad["score"], pad["max_score"], pad["status"]) == (0, 2, "failed") and pad["output"].startswith("pad2d(")
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    (failure,) = suite.iter("failure")
    assert failure.text == pad["output"]


def test_the_terminal_report_shows_marks_points_and_the_message(variant):
    run = grade(variant, "--only", "02.pad2d.*")
    assert run.returncode == 0
    assert "✗" in run.stdout and "02.pad2d.values" in run.stdout and "0/2" in run.stdout and "pad2d(float64" in run.stdout


def test_fail_under_exits_1_below_the_threshold(variant):
    run = grade(variant, "--only", PAD2D_AND_OTHER, "--fail-under", "60", "--quiet")
    assert run.returncode == 1 and "total 50.0% is below --fail-under 60%" in run.stderr


def test_a_folder_defaults_to_exercises_and_grades_every_notebook_in_it(tmp_path):
    shutil.copytree(SOLUTION.parent, tmp_path / "exercises" / BASE)
    run = grade("--only", OTHER_CHECK, "-q", cwd=tmp_path)
    assert run.returncode == 0 and "02-padding-stride  1/1 points" in run.stdout


@pytest.mark.parametrize(
    "argv, words",
    [
        (["does/not/exist.ipynb"], "does/not/exist.ipynb does not exist; check the path."),
        (["--jobs", "0"], "argument --jobs/-j: '0' must be positive"),
        (["--csv", "x.csv", "exercises"], "--csv goes with --batch"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_and_path_errors_exit_2_with_one_line(capsys, argv, words):
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "name, text, words",
    [
        ("padding_stride.ipynb", "{not json", "is not a notebook (invalid JSON at line 1)"),
        ("homework.ipynb", json.dumps({"nbformat": 4, "metadata": {}, "cells": []}), "is not one of the course's assignments"),
        ("padding_stride.ipynb", json.dumps({"nbformat": 3, "metadata": {}, "cells": []}), "has nbformat 3"),
    ],
)
def test_a_file_that_is_no_course_notebook_exits_2_without_a_traceback(tmp_path, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    run = grade(path)
    assert run.returncode == 2 and words in run.stderr
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_only_that_matches_no_check_is_a_usage_error():
    run = grade(SOLUTION, "--only", "99.*")
    assert run.returncode == 2 and "no check id matches --only '99.*'" in run.stderr


def test_batch_grades_every_learner_into_one_csv_and_survives_a_broken_submission(tmp_path):
    batch = tmp_path / "batch"
    solution_with(batch / "alice", {})
    solution_with(batch / "carol", pad2d_body("    return x"))
    broken = batch / "bob" / BASE / "padding_stride.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{ this is not a notebook")
    before = {p: sha256_file(p) for p in batch.rglob("*.ipynb")}
    run = grade("--batch", batch, "--out", tmp_path / "out", "--csv", tmp_path / "grades.csv", "--only", PAD2D_AND_OTHER, "--jobs", "2", "--quiet")
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert [(r["learner"], r["assignment"], r["score"], r["max_score"]) for r in rows] == [
        ("alice", BASE, "4", "4"), ("bob", BASE, "0", "0"), ("carol", BASE, "2", "4"),
    ]
    assert rows[1]["error"].endswith("is not a notebook (invalid JSON at line 1); open it in Jupyter and save it again.")
    assert rows[2]["failed_checks"] == "02.pad2d.values" and rows[2]["02.pad2d.values"] == "0" and rows[2][OTHER_CHECK] == "1"
    assert {p: sha256_file(p) for p in batch.rglob("*.ipynb")} == before


def test_batch_keeps_each_learner_out_of_the_others_folders(tmp_path):
    batch = tmp_path / "batch"
    solution_with(batch / "alice", {})
    peek = f"open({str(batch / 'alice' / BASE / 'padding_stride.ipynb')!r}).read()\n    return np.pad(x, 0)"
    solution_with(batch / "mallory", pad2d_body(f"    {peek}"))
    run = grade("--batch", batch, "--out", tmp_path / "out", "--csv", "-", "--only", "02.pad2d.*", "--quiet", "--json", tmp_path / "r.json")
    rows = {r["learner"]: r for r in csv.DictReader(run.stdout.splitlines())}
    assert rows["alice"]["score"] == "2" and rows["mallory"]["score"] == "0"
    messages = [t["output"] for t in json.loads((tmp_path / "r.json").read_text())["tests"]]
    assert re.match(r"pad2d raised (PermissionError: sandbox: reading .* is not allowed|FileNotFoundError: .* No such file)", messages[1]), messages[1]


def test_jobs_grade_notebooks_in_parallel_and_keep_their_order(tmp_path):
    first = solution_with(tmp_path / "a", {})
    second = solution_with(tmp_path / "b", pad2d_body("    return x"))
    run = grade(first, second, "--only", PAD2D_AND_OTHER, "--json", tmp_path / "r.json", "-q", "--jobs", "2")
    assert run.returncode == 0, run.stderr
    assert [t["score"] for t in json.loads((tmp_path / "r.json").read_text())["tests"]] == [1, 1, 2, 1, 1, 0]


def test_help_lists_the_options():
    run = grade("--help")
    assert run.returncode == 0 and all(o in run.stdout for o in ("--json", "--junit", "--jobs", "--only", "--timeout", "--batch", "--fail-under"))


def _without_bwrap(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a machine without bubblewrap: PATH holds only the interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return dict(env, PATH=str(bin_dir), **extra)


@pytest.mark.parametrize("how", ["CI=true", "--strict", "--batch"])
def test_official_grading_refuses_to_run_without_bubblewrap(tmp_path, how):
    solution = get_assignment(BASE).solution_path
    args = ["--batch", str(solution.parent.parent)] if how == "--batch" else [str(solution), *([how] if how == "--strict" else [])]
    env = _without_bwrap(tmp_path, **({"CI": "true"} if how == "CI=true" else {}))
    run = subprocess.run([sys.executable, "-m", "autograder", *args, "--only", OTHER_CHECK, "-q"], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["official grading needs the bubblewrap sandbox, but bwrap is not installed; install bubblewrap (Debian/Ubuntu: sudo apt-get install -y bubblewrap)"]


def test_self_grading_without_bubblewrap_falls_back_with_a_one_line_warning(tmp_path):
    solution = get_assignment(BASE).solution_path
    run = subprocess.run([sys.executable, "-m", "autograder", str(solution), "--only", OTHER_CHECK, "-q"], capture_output=True, text=True, env=_without_bwrap(tmp_path), cwd=REPO_ROOT)
    assert run.returncode == 0 and "1/1 points" in run.stdout
    assert run.stderr.strip().splitlines() == ["warning: bubblewrap is not available (bwrap is not installed; install bubblewrap (Debian/Ubuntu: sudo apt-get install -y bubblewrap)); grading with the weaker built-in guards (see the README's threat model)"]


def test_a_notebook_of_another_assignment_is_refused(tmp_path):
    solution = get_assignment("01-convolution").solution_path
    run = grade(str(solution), "--assignment", BASE, "-q")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [f"{solution} is a notebook of 01-convolution, not of {BASE}; submit the {BASE} notebook there."]


def test_batch_refuses_symlinks_and_notebooks_in_the_wrong_folder(tmp_path):
    batch = tmp_path / "batch"
    good = solution_with(batch / "alice", {})
    (batch / "mallory" / BASE).mkdir(parents=True)
    (batch / "mallory" / BASE / good.name).symlink_to(good)
    wrong = batch / "eve" / BASE / "convolution.ipynb"
    wrong.parent.mkdir(parents=True)
    shutil.copy(get_assignment("01-convolution").solution_path, wrong)
    run = grade("--batch", batch, "--out", tmp_path / "out", "--csv", "-", "--only", OTHER_CHECK, "--quiet")
    rows = {r["learner"]: r for r in csv.DictReader(run.stdout.splitlines())}
    assert rows["alice"]["score"] == "1" and not rows["alice"]["error"]
    assert rows["mallory"]["score"] in ("", "0") and "is a symbolic link" in rows["mallory"]["error"]
    assert rows["eve"]["score"] in ("", "0") and "is a notebook of 01-convolution, not of 02-padding-stride" in rows["eve"]["error"]


def test_csv_fields_never_start_a_formula_and_learner_text_is_capped(tmp_path):
    from autograder import report
    from autograder.engine import NotebookResult

    result = NotebookResult(path=Path("=1+1.ipynb"), assignment=BASE, error="=HYPERLINK(\"http://x\")" + "\n" * 200_000 + "y" * (40 << 20))
    target = tmp_path / "grades.csv"
    assert report.write_csv([("@evil", result), ("-x", result), ("+y", result)], target)
    rows = list(csv.reader(target.read_text().splitlines()))[1:]
    assert [r[0] for r in rows] == ["'@evil", "'-x", "'+y"]
    assert all(r[2].startswith("'=") and r[7].startswith("'=") for r in rows)
    assert target.stat().st_size < 20_000
    assert len(report.clean("x" * (40 << 20))) < 9000 and report.clean("\n" * 200_000).count("\n") <= report.MAX_LINES


def test_an_unwritable_report_is_one_line_and_the_others_are_still_written(tmp_path, capsys):
    junit = tmp_path / "r.xml"
    code = cli.main([str(SOLUTION), "--only", OTHER_CHECK, "-q", "--json", str(tmp_path / "missing" / "r.json"), "--junit", str(junit)])
    assert code == 2 and junit.exists()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cannot write {tmp_path / 'missing' / 'r.json'}: No such file or directory")
