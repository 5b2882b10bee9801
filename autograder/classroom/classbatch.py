"""What an instructor gets from ``--batch DIR --out FOLDER``: a roster's missing learners as
rows, notes on tampered test cells, per-learner ``results.json`` and feedback, and a summary.

``FOLDER/<learner>/<assignment>/`` receives ``results.json`` (Gradescope's format),
``feedback.md`` and ``feedback.html`` (:mod:`autograder.classroom.feedback`); the CSV goes to
``FOLDER/grades.csv`` unless ``--csv`` says otherwise.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import re
import sys
from pathlib import Path
from typing import IO, Iterable, Sequence

from autograder.assignments import get_assignment
from autograder.classroom.feedback import Feedback, html_page, markdown
from autograder.engine import CheckResult, NotebookResult
from autograder.notebook import NotebookError, read_notebook
from autograder.registry import checks_for
from autograder.report import clean, gradescope
from autograder.i18n import N_, _

NO_SUBMISSION = N_("no submission")
ROSTER_COLUMNS = ("learner", "student", "student_id", "id", "username", "login", "email")
Row = tuple[str, NotebookResult]


class RosterError(ValueError):
    """The roster file is missing, empty or has no learner column."""


def read_roster(path: str | Path) -> list[str]:
    """Learner ids from a roster: one id a line (``#`` comments and blank lines skipped), or a
    CSV with a header whose column ``learner``, ``student``, ``student_id``, ``id``,
    ``username``, ``login`` or ``email`` (the first found) holds the ids.

    Raises:
        RosterError: the file cannot be read, holds no ids, or a CSV has none of those columns.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(_("cannot read the roster {path}: {type}; give a text file with one learner id a line.").format(path=path, type=exc.__class__.__name__)) from None
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if lines and "," in lines[0]:
        reader = csv.DictReader(lines)
        header = {name.strip().lower(): name for name in reader.fieldnames or []}
        column = next((header[c] for c in ROSTER_COLUMNS if c in header), None)
        if column is None:
            raise RosterError(_("the roster {path} is a CSV without a learner column; name one of: {columns}.").format(path=path, columns=", ".join(ROSTER_COLUMNS)))
        ids = [(row.get(column) or "").strip() for row in reader]
    else:
        ids = lines
    ids = list(dict.fromkeys(i for i in ids if i))
    if not ids:
        raise RosterError(_("the roster {path} lists no learner; give one learner id a line.").format(path=path))
    return ids


def no_submission(learner: str, assignment_id: str, *, include_hidden: bool, only: str | None = None) -> NotebookResult:
    """A row for a roster learner who submitted nothing: every check (matching ``only``) at 0."""
    checks = [
        CheckResult(c.id, _(c.title), c.points, 0.0, "failed", _(NO_SUBMISSION), 0.0, c.hidden)
        for c in checks_for(assignment_id, include_hidden=include_hidden)
        if only is None or fnmatch.fnmatchcase(c.id, only)
    ]
    return NotebookResult(path=Path(learner) / assignment_id, assignment=assignment_id, checks=checks, cell_errors=[_(NO_SUBMISSION)])


def with_roster(rows: Sequence[Row], roster: Iterable[str], *, include_hidden: bool, only: str | None = None) -> list[Row]:
    """``rows`` plus a "no submission" row for every roster learner and graded assignment
    without one, sorted by learner then assignment. Learners not on the roster keep their rows."""
    assignments = sorted({r.assignment for _, r in rows if r.assignment})
    have = {(learner, r.assignment) for learner, r in rows}
    out = list(rows)
    for learner in roster:
        for assignment_id in assignments:
            if (learner, assignment_id) not in have:
                out.append((learner, no_submission(learner, assignment_id, include_hidden=include_hidden, only=only)))
    return sorted(out, key=lambda row: (row[0], row[1].assignment))


_HIDDEN_TESTS = re.compile(r"\n?### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS", re.S)


def _without_hidden_tests(source: str) -> str:
    """A test cell as ``generate_assignment`` releases it (a solution submitted as is keeps its
    hidden tests, which is no tampering)."""
    return _HIDDEN_TESTS.sub("", source)


def changed_test_cells(result: NotebookResult) -> str:
    """A note when the submission's locked test cells differ from the released exercise's
    (deleted or edited): the registry graded it anyway, but nbgrader would not give the same
    points. Empty when they match or there is nothing to compare with."""
    if result.error or not result.assignment or not result.path.is_file():
        return ""
    try:
        released = {c.nbgrader.get("grade_id"): c.source for c in read_notebook(get_assignment(result.assignment).exercise_path).test_cells()}
        submitted = {c.nbgrader.get("grade_id"): _without_hidden_tests(c.source) for c in read_notebook(result.path).test_cells()}
    except (NotebookError, ValueError, OSError):
        return ""
    deleted = sorted(k for k in released if k not in submitted)
    changed = sorted(k for k in released if k in submitted and submitted[k] != released[k])
    if not deleted and not changed:
        return ""
    parts = ([_("deleted: {ids}").format(ids=", ".join(deleted))] if deleted else []) + ([_("changed: {ids}").format(ids=", ".join(changed))] if changed else [])
    return _("test cells {parts} (graded from the registry anyway; nbgrader would score them 0 or ask for manual grading)").format(parts="; ".join(parts))


def finish(rows: Sequence[Row], roster: Iterable[str] | None, *, include_hidden: bool, only: str | None = None) -> list[Row]:
    """The batch's rows with tampered test cells noted and, given a ``roster``, a row for every
    missing submission (its checks: those the batch ran, ``include_hidden`` and ``only``)."""
    for _learner, result in rows:
        note = changed_test_cells(result)
        if note:
            result.cell_errors.append(note)
    return with_roster(rows, roster, include_hidden=include_hidden, only=only) if roster is not None else list(rows)


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


def folder_name(text: str) -> str:
    """``text`` as one safe path component (no separators, no leading dots)."""
    return _UNSAFE.sub("_", text).lstrip(".") or "_"


def write_learner_files(rows: Sequence[Row], out: Path, *, show_hidden: bool = False) -> list[Path]:
    """``out/<learner>/<assignment>/`` with results.json, feedback.md and feedback.html for
    every row; returns the folders written."""
    folders = []
    for learner, result in rows:
        folder = out / folder_name(learner) / folder_name(result.assignment or result.path.parent.name)
        folder.mkdir(parents=True, exist_ok=True)
        feedback = Feedback(learner, result, show_hidden)
        (folder / "results.json").write_text(json.dumps(gradescope([result], result.duration), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "feedback.md").write_text(markdown(feedback), encoding="utf-8")
        (folder / "feedback.html").write_text(html_page(feedback), encoding="utf-8")
        folders.append(folder)
    return folders


def print_summary(rows: Sequence[Row], *, file: IO[str] | None = None) -> None:
    """One line per learner and assignment: score, percent and what went wrong."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=_("Batch summary"), title_justify="left")
    for name, justify in ((_("learner"), "left"), (_("assignment"), "left"), (_("score"), "right"), ("%", "right"), (_("notes"), "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for learner, result in rows:
        maximum = result.max_score
        percent = f"{100 * result.score / maximum:.0f}" if maximum and not result.error else "-"
        notes = clean(result.error or "; ".join(result.cell_errors))[:160]
        table.add_row(clean(learner), result.assignment or "?", f"{result.score:g}/{maximum:g}", percent, notes)
    Console(file=file or sys.stdout, highlight=False, width=160).print(table)
