"""The registry and the solution notebooks agree: one locked test cell per check, same points.

Public check ``NN.function.case`` has a test cell with ``grade_id`` ``NN_function_case`` and
exactly :func:`public_cell_source`. A hidden check has a test cell with ``grade_id``
``hidden_NN_k`` whose source is :func:`hidden_cell_source`: the call sits between nbgrader's
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``, so ``generate_assignment`` strips it from
``exercises/`` and ``nbgrader autograde`` puts it back. ``python -m autograder.classroom.consistency``
prints every disagreement with the file to update; ``make test`` runs the same for every assignment
in ``autograder/assignments.py``.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Iterable

from autograder.assignments import ASSIGNMENTS, Assignment
from autograder.notebook import read_notebook
from autograder.paths import REPO_ROOT
from autograder.registry import HIDDEN_CHECKS_MARKER, Check, checks_for

BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_GRADE_CALL = re.compile(r'grade\("([^"]+)", globals\(\)\)')


def public_cell_source(check: Check) -> str:
    return (
        f"# Autograder check: {check.title}. Locked; the same check runs in `python -m autograder`.\n"
        f"from autograder.checks import grade\n"
        f'grade("{check.id}", globals())'
    )


def hidden_cell_source(check: Check) -> str:
    """The cell nbgrader turns into its first line alone in ``exercises/``."""
    points = f"{check.points:g} point{'s' if check.points != 1 else ''}"
    return (
        f"# Hidden check ({points}): the official grading runs it; `make grade` does not.\n"
        f"{BEGIN_HIDDEN}\n"
        f"from autograder.checks import grade\n"
        f'grade("{check.id}", globals())\n'
        f"{END_HIDDEN}"
    )


def _where(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _hidden_before_marker(checks: Iterable[Check], module: str) -> list[str]:
    """Hidden checks defined above the module's HIDDEN CHECKS line (the student release would
    hand them out), and public checks below it (the release would lose them)."""
    problems = []
    for check in checks:
        lines, first = inspect.getsourcelines(inspect.getmodule(check.func))
        marker = next((first + i for i, line in enumerate(lines) if line.rstrip("\n") == HIDDEN_CHECKS_MARKER), None)
        line = inspect.getsourcelines(check.func)[1]
        if check.hidden and (marker is None or line < marker):
            problems.append(f"{module}: the hidden check {check.id} must follow the line {HIDDEN_CHECKS_MARKER!r}; move it below.")
        elif not check.hidden and marker is not None and line > marker:
            problems.append(f"{module}: the public check {check.id} sits below the HIDDEN CHECKS line, which the student release cuts; move it above.")
    return problems


def mismatches(assignment: Assignment, notebook_path: Path | None = None) -> list[str]:
    """Every way the registry and ``notebook_path`` (default: the solution) disagree, one line
    each, naming the file to update. Empty when they agree."""
    notebook_path = notebook_path or assignment.solution_path
    checks = {c.id: c for c in checks_for(assignment, include_hidden=True)}
    module = _where(Path(inspect.getfile(next(iter(checks.values())).func))) if checks else f"autograder/checks/{assignment.checks_module}.py"
    notebook = _where(notebook_path)
    problems: list[str] = []
    seen: dict[str, str] = {}
    for cell in read_notebook(notebook_path).test_cells():
        grade_id = str(cell.nbgrader.get("grade_id"))
        called = _GRADE_CALL.findall(cell.source)
        if len(called) != 1:
            problems.append(f"{notebook}: test cell {grade_id} must call grade(\"<check id>\", globals()) exactly once; fix the cell.")
            continue
        check_id = called[0]
        check = checks.get(check_id)
        if check is None:
            problems.append(f"{notebook}: test cell {grade_id} grades {check_id}, which {module} does not register; add the check there or delete the cell.")
            continue
        if check_id in seen:
            problems.append(f"{notebook}: {check_id} has two test cells ({seen[check_id]}, {grade_id}); delete one.")
        seen[check_id] = grade_id
        expected_source = hidden_cell_source(check) if check.hidden else public_cell_source(check)
        expected_id = f"hidden_{assignment.number}_" if check.hidden else check_id.replace(".", "_")
        if check.hidden and not grade_id.startswith(expected_id) or not check.hidden and grade_id != expected_id:
            problems.append(f"{notebook}: the test cell of {check_id} has grade_id {grade_id}; set it to {expected_id}{'<k>' if check.hidden else ''}.")
        if cell.nbgrader.get("points") != check.points:
            problems.append(
                f"{check_id} is worth {check.points:g} points in {module} but {cell.nbgrader.get('points')} in {notebook}; "
                "make them equal (the notebook's cell metadata or the @check's points)."
            )
        if not cell.nbgrader.get("locked"):
            problems.append(f"{notebook}: the test cell of {check_id} must be locked (nbgrader 'locked': true).")
        if cell.source != expected_source:
            problems.append(f"{notebook}: the test cell of {check_id} should read exactly:\n{expected_source}")
    problems += _hidden_before_marker(checks.values(), module)
    for check_id, check in checks.items():
        if check_id not in seen:
            kind = "hidden " if check.hidden else ""
            problems.append(f"{check_id} ({kind}check in {module}) has no test cell in {notebook}; add a locked test cell (CONTRIBUTING.md) or remove the check.")
    return problems


def main() -> int:
    problems = [p for a in ASSIGNMENTS if a.solution_path.exists() for p in mismatches(a)]
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
