"""Graded checks, one module per assignment, and :func:`grade` for nbgrader test cells.

Modules: ``convolution`` (01), ``padding_stride`` (02), ``pooling`` (03), ``backprop`` (04),
``architectures`` (05), ``training`` (06), ``pytorch`` (07), ``modern`` (08). Each defines ``@check``-decorated functions (see
:mod:`autograder.registry`) that receive a :class:`~autograder.learner.Learner`.
"""

from __future__ import annotations

import sys
from contextlib import redirect_stderr
from typing import Any, MutableMapping

from autograder.i18n import _
from autograder.learner import InProcessLearner
from autograder.registry import CheckFailed, get_check


def progress(line: str) -> None:
    """Print a progress line while a long check (a training gate) runs: on stderr, which the
    command line shows and :func:`grade` sends to the nbgrader cell's output."""
    print(line, file=sys.stderr, flush=True)


def grade(check_id: str, namespace: MutableMapping[str, Any]) -> None:
    """Run one check on a notebook's ``globals()``; used by the locked nbgrader test cells.

    Prints a one-line verdict on success; raises :class:`CheckFailed` (the cell fails and
    nbgrader gives 0 points for it) otherwise. What the learner's code writes to stderr while
    the check runs (a debugging print, a NumPy RuntimeWarning) goes to stdout instead: nbgrader
    scores any stderr output of a test cell 0, and the command-line grader ignores it.
    """
    check = get_check(check_id)
    try:
        with redirect_stderr(sys.stdout):
            check.func(InProcessLearner(namespace))
    except CheckFailed as failure:
        raise CheckFailed(_("{id} ({points} points): {problem}").format(id=check.id, points=f"{check.points:g}", problem=failure)) from None
    print("✓ " + _("{id}: {title} ({points}/{points} points)").format(id=check.id, title=_(check.title), points=f"{check.points:g}"))
