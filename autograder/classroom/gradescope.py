"""The Gradescope autograder: ``make gradescope ASSIGNMENT=NN-topic OUT=FILE.zip``.

``python -m autograder.classroom.gradescope build NN-topic FILE.zip`` writes a zip with, at its
root, Gradescope's ``setup.sh`` (Python 3.11, bubblewrap, the pinned requirements with CPU-only
PyTorch) and ``run_autograder``, and ``course/``: the grader with public and hidden checks and
their oracles, the released exercise (to spot changed test cells), ``requirements.txt`` and
``pyproject.toml``; no solutions, tests or book.

``run_autograder`` calls ``python -m autograder.classroom.gradescope run``, which grades
``<root>/submission/*.ipynb`` officially (public + hidden checks) into
``<root>/results/results.json``. ``<root>`` is ``$GRADESCOPE_ROOT``, by default ``/autograder``,
so a test can lay the tree out in a temporary folder. Whatever is submitted, a results.json is
written and the run exits 0: a submission that is not a notebook, or of another assignment,
scores 0 with a message the learner understands.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import tempfile
import time
import zipfile
from pathlib import Path

from autograder.assignments import Assignment, get_assignment
from autograder.i18n import _

DEFAULT_ROOT = "/autograder"
ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # fixed, so the same course gives the same zip
EXECUTABLES = ("setup.sh", "run_autograder")


def _template(name: str, assignment: Assignment) -> str:
    from autograder.classroom.student_release import RELEASE_FILES  # the builder's, not in the zip

    return (RELEASE_FILES / name).read_text(encoding="utf-8").replace("{assignment}", assignment.id)


def build_zip(assignment_id: str, out: str | os.PathLike[str]) -> Path:
    """Write the Gradescope autograder zip of one assignment to ``out``.

    Raises:
        ValueError: the assignment is unknown.
    """
    from autograder.classroom.student_release import copy_package, copy_top_level

    assignment = get_assignment(assignment_id)
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="cnn-course-gradescope-") as tmp:
        tree = Path(tmp)
        for name in EXECUTABLES:
            (tree / name).write_text(_template(name, assignment), encoding="utf-8")
        copy_package(tree / "course", hidden=True)
        copy_top_level(tree / "course", (f"exercises/{assignment.id}", "requirements.txt", "pyproject.toml"))
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                name = path.relative_to(tree).as_posix()
                info = zipfile.ZipInfo(name, ZIP_DATE)
                info.external_attr = ((0o755 if name in EXECUTABLES else 0o644) | stat.S_IFREG) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return out


# -- run_autograder -------------------------------------------------------------------------


def _failure(message: str, started: float) -> dict:
    """A results.json for a submission that cannot be graded: score 0 and the reason."""
    return {"score": 0.0, "execution_time": round(time.perf_counter() - started, 3), "output": message, "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


def _pick_notebook(submission: Path, assignment: Assignment) -> tuple[Path | None, str]:
    """The submitted notebook to grade, or (None, why not)."""
    notebooks = sorted(p for p in submission.rglob("*.ipynb") if not any(part.startswith(".") for part in p.relative_to(submission).parts))
    if not notebooks:
        files = sorted(p.name for p in submission.rglob("*") if p.is_file())[:5]
        found = " " + _("(found: {files})").format(files=", ".join(files)) if files else ""
        return None, _("No Jupyter notebook (.ipynb) in your submission{found}. Upload your {notebook} from exercises/{assignment}/.").format(found=found, notebook=assignment.notebook, assignment=assignment.id)
    named = [p for p in notebooks if p.name == assignment.notebook]
    return (named or notebooks)[0], ""


def grade_submission(root: Path, assignment: Assignment) -> dict:
    """Grade ``root/submission`` and return Gradescope's results (never raises for bad input)."""
    from autograder import engine, report
    from autograder.classroom.classbatch import changed_test_cells
    from autograder.notebook import NotebookError

    started = time.perf_counter()
    notebook, why = _pick_notebook(root / "submission", assignment)
    if notebook is None:
        return _failure(why, started)
    try:
        found = engine.load(notebook)[1]
    except NotebookError as exc:
        return _failure(_("Your submission could not be graded: {problem}").format(problem=exc), started)
    if found.id != assignment.id:
        return _failure(_("{name} is the notebook of {found}, but this is {assignment}: upload {notebook} from exercises/{assignment}/.").format(name=notebook.name, found=found.id, assignment=assignment.id, notebook=assignment.notebook), started)
    result = engine.grade_submission(engine.Submission(notebook), {"include_hidden": True})
    if result.error:
        staff = " " + _("Please tell the course staff.") if result.internal else ""
        return _failure(_("Your submission could not be graded: {problem}").format(problem=result.error) + staff, started)
    note = changed_test_cells(result)
    if note:
        result.cell_errors.append(note)
    results = report.gradescope([result], time.perf_counter() - started)
    public = [c for c in result.checks if not c.hidden]
    summary = _("{assignment}: {score}/{maximum} points on the public checks ({passed} of {count} passed); the hidden checks are shown once grades are published.").format(
        assignment=assignment.id, score=f"{sum(c.earned for c in public):g}", maximum=f"{sum(c.points for c in public):g}", passed=sum(c.passed for c in public), count=len(public)
    )
    results["output"] = "\n".join(filter(None, [summary, results["output"]]))
    return results


def run(root: str | os.PathLike[str], assignment_id: str) -> int:
    """``run_autograder``: grade and write ``root/results/results.json``; always exit 0 once
    it is written."""
    root = Path(root)
    started = time.perf_counter()
    try:
        results = grade_submission(root, get_assignment(assignment_id))
    except Exception as exc:  # noqa: BLE001 - the learner must still get a results.json
        results = _failure(_("The autograder failed ({type}: {problem}); your submission is kept. Please tell the course staff.").format(type=type(exc).__name__, problem=exc), started)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.classroom.gradescope", description="Build or run the Gradescope autograder.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write the autograder zip of one assignment")
    build.add_argument("assignment", help="id or number, e.g. 02-padding-stride")
    build.add_argument("out", help="the zip file to write")
    grade = commands.add_parser("run", help="grade <root>/submission into <root>/results/results.json")
    grade.add_argument("--root", default=os.environ.get("GRADESCOPE_ROOT", DEFAULT_ROOT))
    grade.add_argument("--assignment", required=True)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.root, args.assignment)
    from autograder.classroom.student_release import run_builder

    return run_builder(lambda: build_zip(args.assignment, args.out), f"wrote {args.out}: upload it as the assignment's Gradescope autograder.")


if __name__ == "__main__":
    raise SystemExit(main())
