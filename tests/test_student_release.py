"""``make student-release``: the learners' repository holds no solution code and no hidden check,
and grades every notebook exactly as the full course repository does (public checks)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.assignments import ASSIGNMENTS
from autograder.classroom.student_release import StudentReleaseError, build
from autograder.paths import EXERCISES_DIR, REPO_ROOT, SOLUTIONS_DIR
from autograder.registry import HIDDEN_CHECKS_MARKER, checks_for, max_points

from conftest import write_variant
from hostile import pad2d_body, solution_with

REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
# A region line shorter than this, or one that only unpacks arguments or shapes, is an idiom
# (`return out`, `ph, pw = as_pair(padding)`), not code that gives a solution away.
MIN_LINE = 16
UNPACKING = re.compile(r"^[\w, ()]+ = (as_pair\(.*\)|\w+\.shape(\[[^\]]*\])?)$")
# corr2d that fills only its first 9 rows: the public checks miss it, a hidden one catches it.
ROWS_CLIPPED = {"for i in range(out.shape[0]):": "for i in range(min(out.shape[0], 9)):"}


def _cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def solution_regions() -> list[tuple[str, set[str]]]:
    """(notebook, the region's telling lines) for every solution region in solutions/: lines
    of at least MIN_LINE characters that are not argument unpacking and that the exercises do
    not give learners anyway."""
    given = {line.strip() for nb in EXERCISES_DIR.glob("*/*.ipynb") for source in _cells(nb) for line in source.splitlines()}
    regions = []
    for notebook in sorted(SOLUTIONS_DIR.glob("*/*.ipynb")):
        for source in _cells(notebook):
            for match in REGION.finditer(source):
                lines = {s for s in (line.strip() for line in match.group(1).splitlines()) if len(s) >= MIN_LINE and s not in given and not UNPACKING.match(s)}
                if lines:
                    regions.append((notebook.name, lines))
    return regions


def release_texts(root: Path) -> dict[Path, str]:
    """Every file of the release outside .git, as text (binary files decoded leniently)."""
    return {p: p.read_bytes().decode("utf-8", errors="replace") for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.relative_to(root).parts}


def grade_in(root: Path, folders: list[Path], results: Path) -> dict[str, dict[str, float]]:
    """``python -m autograder FOLDER ... --local`` run in ``root``, with ``root``'s own grader
    first on the path: notebook path (from its assignment folder's parent's name on) -> check
    id -> points earned."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(root)
    run = subprocess.run([sys.executable, "-m", "autograder", *map(str, folders), "--local", "--quiet", "--jobs", "2", "--json", str(results)],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(results.read_text())
    tests = iter(data["tests"])  # each notebook's checks, one notebook after the other
    earned: dict[str, dict[str, float]] = {}
    for notebook in data["extra_data"]["notebooks"]:
        assert not notebook["error"], notebook
        key = "/".join(Path(notebook["path"]).parts[-3:])
        earned[key] = {t["number"]: t["score"] for t in (next(tests) for _ in checks_for(notebook["assignment"]))}
    return earned


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("learners") / "cnn-course"
    assert build(target) is True
    return target


GATED = ("06-training", "07-pytorch")


@pytest.fixture(scope="module")
def submissions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """solution/, blank/ (the released exercises) and two seeded bugs, each with its 02-05
    siblings beside it as learners keep them."""
    root = tmp_path_factory.mktemp("submissions")
    shutil.copytree(SOLUTIONS_DIR, root / "solution")
    # Not 06's and 07's solutions: their accuracy gates train for a minute, and the session grades
    # each twice already (conftest's training_solution_graded and pytorch_solution_graded, nbgrader
    # in tests/test_nbgrader_parity.py).
    for gated in GATED:
        shutil.rmtree(root / "solution" / gated)
    shutil.copytree(EXERCISES_DIR, root / "blank")
    write_variant("01", ROWS_CLIPPED, root / "bug-01")
    solution_with(root / "bug-02", pad2d_body("    return x"))
    return root


def test_the_release_is_one_commit_without_solutions_tests_or_book(release: Path) -> None:
    log = subprocess.run(["git", "log", "--format=%s"], cwd=release, capture_output=True, text=True, check=True).stdout.splitlines()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=release, capture_output=True, text=True, check=True).stdout
    assert len(log) == 1 and status == ""
    top = {p.name for p in release.iterdir()}
    assert top == {".git", ".github", ".gitignore", "Makefile", "README.md", "autograder", "exercises", "pyproject.toml", "requirements.txt"}
    assert (release / ".github/workflows/autograde.yml").is_file() and not (release / "autograder/oracle_data/hidden").exists()
    assert sorted(p.name for p in (release / "exercises").iterdir() if p.is_dir()) == sorted([a.id for a in ASSIGNMENTS] + ["zh_CN"])
    assert all((release / "exercises" / "zh_CN" / a.id / a.notebook).is_file() for a in ASSIGNMENTS), "the Chinese exercises ship too"


def test_no_release_file_holds_solution_code_compared_line_by_line(release: Path) -> None:
    regions = solution_regions()
    assert len(regions) > 20
    leaks = []
    for path, text in release_texts(release).items():
        lines = {line.strip() for line in text.splitlines()}
        for notebook, region in regions:
            found = region & lines
            if len(found) >= min(3, len(region)):
                leaks.append(f"{path.relative_to(release)} holds {len(found)} lines of a solution in {notebook}: {sorted(found)}")
    assert not leaks, "\n".join(leaks)


def test_no_hidden_check_id_or_hidden_oracle_appears_in_the_release(release: Path) -> None:
    hidden = [c.id for a in ASSIGNMENTS for c in checks_for(a, include_hidden=True) if c.hidden]
    assert hidden
    texts = release_texts(release)
    assert not [(c, str(p)) for p in texts for c in hidden if c in texts[p]]
    assert not [str(p) for p in texts if "hidden_large" in texts[p]]
    assert not [p.name for p in (release / "autograder" / "checks").glob("*.py") if HIDDEN_CHECKS_MARKER in p.read_text()]


def test_a_second_release_into_the_same_folder_writes_nothing_and_another_folder_is_refused(release: Path, tmp_path: Path) -> None:
    assert build(release) is False
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StudentReleaseError, match="is not empty and differs from this release"):
        build(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_the_release_grades_every_notebook_as_the_course_repository_does(release: Path, submissions: Path, tmp_path: Path) -> None:
    bugs = [submissions / "bug-01/01-convolution/convolution.ipynb", submissions / "bug-02/02-padding-stride/padding_stride.ipynb"]
    in_release = grade_in(release, [submissions / "solution", submissions / "blank", *bugs], tmp_path / "release.json")
    in_course = grade_in(REPO_ROOT, bugs, tmp_path / "course.json")
    assert in_course == {key: in_release[key] for key in in_course} and len(in_course) == 2
    for assignment in ASSIGNMENTS:
        if assignment.id not in GATED:  # left out of submissions/solution (see the fixture)
            solution = in_release[f"solution/{assignment.id}/{assignment.notebook}"]
            assert sum(solution.values()) == max_points(assignment), {k: v for k, v in solution.items() if not v}
        assert sum(in_release[f"blank/{assignment.id}/{assignment.notebook}"].values()) == 0
    assert sum(in_release["bug-01/01-convolution/convolution.ipynb"].values()) == max_points("01")  # its bug is for the hidden checks
    assert in_release["bug-02/02-padding-stride/padding_stride.ipynb"]["02.pad2d.values"] == 0


def test_make_grade_works_in_the_release(release: Path, submissions: Path) -> None:
    venv = release / ".venv" / "bin"  # stands in for `make venv` (pip), which the release's .gitignore hides
    venv.mkdir(parents=True, exist_ok=True)
    (venv / "python").write_text(f'#!/bin/sh\nPYTHONPATH="{release}" exec "{sys.executable}" "$@"\n')
    (venv / "python").chmod(0o755)
    (release / ".venv" / ".installed").touch()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    run = subprocess.run(["make", "grade", f"NB={submissions / 'solution' / '03-pooling'}"], cwd=release, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"{max_points('03'):g}/{max_points('03'):g} points" in run.stdout
