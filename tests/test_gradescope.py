"""The Gradescope autograder zip: setup.sh up to its network steps, and run_autograder on a
temporary /autograder tree (GRADESCOPE_ROOT) with solution, blank, seeded-bug, hostile and
wrong submissions, checked against Gradescope's documented results.json fields."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.classroom.gradescope import build_zip
from autograder.paths import EXERCISES_DIR
from autograder.registry import checks_for, max_points

from hostile import BASE, pad2d_body, solution_with

# Gradescope's results.json (its autograder specification): top level and per test.
TOP_LEVEL = {"score": (int, float), "execution_time": (int, float), "output": str, "visibility": str, "stdout_visibility": str, "tests": list}
TEST_FIELDS = {"name": str, "score": (int, float), "max_score": (int, float), "status": str, "output": str, "visibility": str}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}
# Not 06 and 07: their accuracy gates train for a minute, and the session grades each solution twice
# already (conftest's training_solution_graded / pytorch_solution_graded through the command line,
# nbgrader in test_nbgrader_parity).
WITH_SOLUTION = [pytest.param(a, id=a.id) for a in ASSIGNMENTS if a.solution_path.exists() and a.id not in ("06-training", "07-pytorch")]


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("zips")
    return {a.id: build_zip(a.id, folder / f"{a.id}.zip") for a in ASSIGNMENTS if a.solution_path.exists()}


def lay_out(zip_path: Path, root: Path) -> Path:
    """Unzip as Gradescope does: the zip into root/source, run_autograder copied to root."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def run_autograder(zip_path: Path, root: Path, files: dict[str, Path | str]) -> dict[str, Any]:
    """Grade ``files`` (name in the submission -> a file or its text) and return results.json."""
    lay_out(zip_path, root)
    for name, content in files.items():
        target = root / "submission" / name
        target.write_text(content) if isinstance(content, str) else shutil.copy(content, target)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTHONPATH")}
    env.update(GRADESCOPE_ROOT=str(root), GRADESCOPE_PYTHON=sys.executable)
    run = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert_gradescope_fields(results)
    return results


def assert_gradescope_fields(results: dict[str, Any]) -> None:
    for key, kind in TOP_LEVEL.items():
        assert isinstance(results[key], kind), key
    assert results["visibility"] in VISIBILITIES and results["stdout_visibility"] in VISIBILITIES
    for test in results["tests"]:
        for key, kind in TEST_FIELDS.items():
            assert isinstance(test[key], kind), (key, test)
        assert test["status"] in ("passed", "failed") and test["visibility"] in VISIBILITIES
        assert test["score"] == (test["max_score"] if test["status"] == "passed" else 0)
    assert results["score"] == sum(t["score"] for t in results["tests"])


def test_the_zip_has_gradescopes_two_scripts_executable_at_its_root_and_no_solutions(zips: dict[str, Path], tmp_path: Path) -> None:
    with zipfile.ZipFile(zips[BASE]) as archive:
        names = archive.namelist()
        modes = {n: archive.getinfo(n).external_attr >> 16 for n in ("setup.sh", "run_autograder")}
    assert all(mode & stat.S_IXUSR for mode in modes.values())
    assert "course/autograder/oracle_data/hidden/02-padding-stride.npz" in names
    assert f"course/exercises/{BASE}/padding_stride.ipynb" in names
    assert not [n for n in names if n.startswith(("course/solutions/", "course/tests/", "course/book/"))]
    again = build_zip(BASE, tmp_path / "again.zip")
    assert again.read_bytes() == zips[BASE].read_bytes()


def test_setup_sh_runs_up_to_its_network_steps_and_stops_on_a_broken_tree(zips: dict[str, Path], tmp_path: Path) -> None:
    root = lay_out(zips[BASE], tmp_path / "autograder")
    env = {**os.environ, "GRADESCOPE_ROOT": str(root), "GRADESCOPE_SETUP_OFFLINE": "1"}
    setup = root / "source" / "setup.sh"
    assert subprocess.run(["bash", "-n", str(setup)]).returncode == 0
    run = subprocess.run(["bash", str(setup)], env=env, cwd=root / "source", capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert f"autograder for {BASE} found" in run.stdout and "stopping before the apt-get and pip steps" in run.stdout
    assert "apt-get install" in setup.read_text() and "bubblewrap" in setup.read_text() and "download.pytorch.org/whl/cpu" in setup.read_text()
    (root / "source" / "course" / "requirements.txt").unlink()
    run = subprocess.run(["bash", str(setup)], env=env, cwd=root / "source", capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "requirements.txt is missing; rebuild the zip with make gradescope." in run.stderr


@pytest.mark.parametrize("assignment", WITH_SOLUTION)
def test_the_solution_scores_public_plus_hidden_and_the_blank_zero(assignment: Assignment, zips: dict[str, Path], tmp_path: Path) -> None:
    solution = run_autograder(zips[assignment.id], tmp_path / "solution", {assignment.notebook: assignment.solution_path})
    every = checks_for(assignment, include_hidden=True)
    assert solution["score"] == max_points(assignment, include_hidden=True) > max_points(assignment)
    assert [t["number"] for t in solution["tests"]] == [c.id for c in every]
    assert {t["number"] for t in solution["tests"] if t["visibility"] == "after_published"} == {c.id for c in every if c.hidden}
    assert solution["output"].startswith(f"{assignment.id}: {max_points(assignment):g}/{max_points(assignment):g} points on the public checks")
    assert "test cells" not in solution["output"]  # its hidden tests are no tampering
    blank = run_autograder(zips[assignment.id], tmp_path / "blank", {assignment.notebook: assignment.exercise_path})
    assert blank["score"] == 0 and len(blank["tests"]) == len(every)


@pytest.mark.parametrize("assignment_id", ["06-training", "07-pytorch"])
def test_a_gated_assignments_zip_grades_its_blank_exercise_zero_on_every_check(assignment_id: str, zips: dict[str, Path], tmp_path: Path) -> None:
    assignment = get_assignment(assignment_id)  # its solution is graded once per session elsewhere (see WITH_SOLUTION)
    blank = run_autograder(zips[assignment.id], tmp_path / "blank", {assignment.notebook: assignment.exercise_path})
    assert blank["score"] == 0 and [t["number"] for t in blank["tests"]] == [c.id for c in checks_for(assignment, include_hidden=True)]


def test_a_seeded_bug_loses_its_points_and_a_hostile_notebook_cannot_touch_the_results(zips: dict[str, Path], tmp_path: Path) -> None:
    bug = solution_with(tmp_path / "bug", pad2d_body("    return x"))
    results = run_autograder(zips[BASE], tmp_path / "bug-root", {bug.name: bug})
    failed = {t["number"] for t in results["tests"] if t["status"] == "failed"}
    assert "02.pad2d.values" in failed and results["score"] < max_points(BASE, include_hidden=True)
    root = tmp_path / "hostile-root"
    forged = root / "results" / "results.json"
    cells = [
        f"import os\nos.makedirs({str(forged.parent)!r}, exist_ok=True)\nopen({str(forged)!r}, 'w').write('{{\"score\": 999}}')",
        "print('{\"score\": 999, \"tests\": []}')",
    ]
    hostile = solution_with(tmp_path / "hostile", {}, cells)
    results = run_autograder(zips[BASE], root, {hostile.name: hostile})
    assert results["score"] == max_points(BASE, include_hidden=True) and "999" not in json.dumps(results["tests"])


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"padding_stride.py": "def pad2d(x, p): ..."}, "No Jupyter notebook (.ipynb) in your submission (found: padding_stride.py). Upload your padding_stride.ipynb"),
        ({"padding_stride.ipynb": "{ not json"}, "Your submission could not be graded: "),
        ({"pooling.ipynb": get_assignment("03").exercise_path}, "pooling.ipynb is the notebook of 03-pooling, but this is 02-padding-stride: upload padding_stride.ipynb"),
    ],
    ids=["not-a-notebook", "broken-json", "wrong-assignment"],
)
def test_a_submission_that_cannot_be_graded_scores_zero_with_a_message(files: dict[str, Any], words: str, zips: dict[str, Path], tmp_path: Path) -> None:
    results = run_autograder(zips[BASE], tmp_path / "root", files)
    assert results["score"] == 0 and results["tests"] == [] and words in results["output"]


def test_the_chinese_blank_is_accepted_and_scores_zero_on_the_same_checks(zips: dict[str, Path], tmp_path: Path) -> None:
    assignment = get_assignment("03")
    chinese = run_autograder(zips[assignment.id], tmp_path / "zh", {assignment.notebook: EXERCISES_DIR / "zh_CN" / assignment.id / assignment.notebook})
    assert chinese["score"] == 0 and [t["number"] for t in chinese["tests"]] == [c.id for c in checks_for(assignment, include_hidden=True)]
    assert "test cells" not in chinese["output"], "its locked test cells are the English ones"
