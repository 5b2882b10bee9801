"""PrairieLearn's external-grading ``results.json`` (``--prairielearn FILE``).

Fields as PrairieLearn documents them: ``gradable`` (false when the submission could not be
graded at all), ``score`` (0 to 1), ``message``, ``output``, and ``tests`` with ``name``,
``description``, ``points``, ``max_points``, ``message`` and ``output``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from autograder.engine import NotebookResult
from autograder.report import _write as write_report
from autograder.report import clean, totals
from autograder.i18n import _


def results(notebooks: Sequence[NotebookResult]) -> dict:
    """One results object for the graded notebooks (normally one submission)."""
    score, maximum = totals(notebooks)
    errors = [f"{r.path.name}: {clean(r.error)}" for r in notebooks if r.error]
    gradable = any(not r.error for r in notebooks)
    tests = [
        {
            "name": check.id,
            "description": check.title,
            "points": check.earned,
            "max_points": check.points,
            "message": clean(check.message),
            "output": clean(check.message),
        }
        for r in notebooks
        if not r.error
        for check in r.checks
    ]
    message = _("{score}/{maximum} points").format(score=f"{score:g}", maximum=f"{maximum:g}") if gradable else _("the submission could not be graded")
    notes = errors + [clean(line) for r in notebooks for line in r.cell_errors]
    return {
        "gradable": gradable,
        "score": round(score / maximum, 6) if maximum else 0.0,
        "message": message + ("; " + " ".join(errors) if errors else ""),
        "output": "\n".join(notes),
        "tests": tests,
    }


def write(notebooks: Sequence[NotebookResult], path: str | Path) -> bool:
    """Write the results; False (and one line on stderr) when the file cannot be written."""
    return write_report(path, json.dumps(results(notebooks), indent=1, ensure_ascii=False) + "\n")
