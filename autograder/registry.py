"""The check registry: every graded check has an id, a title, points and a function.

A check is a plain function that receives a :class:`~autograder.learner.Learner` and either
returns (pass) or raises :class:`CheckFailed` with a message that teaches. The ``@check``
decorator registers it and marks it for pytest, which is the engine that runs checks
(``autograder.engine``). nbgrader test cells call the very same functions through
:func:`autograder.checks.grade`, so both grading paths give the same points.

Check ids read ``NN.function.case``, e.g. ``02.conv2d_forward.stride_padding``.

A check registered with ``hidden=True`` is instructor-only: official grading runs it beside the
public checks (:mod:`autograder.classroom.official`), a learner's local grade does not, and the
student release leaves it out (each checks module keeps its hidden checks after
:data:`HIDDEN_CHECKS_MARKER`, where ``make student-release`` cuts the module).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Callable

from autograder.assignments import Assignment, get_assignment

if TYPE_CHECKING:
    from autograder.learner import Learner


class CheckFailed(AssertionError):
    """A check did not pass. The message says what was called, what differed and, when the
    mistake is a known classic, a hint."""


@dataclass(frozen=True)
class Check:
    """One graded check.

    Attributes:
        id: ``NN.function.case``, unique.
        title: one line shown in reports.
        points: points earned when it passes (all or nothing).
        func: ``func(learner)``; returns on success, raises ``CheckFailed`` otherwise.
        hidden: instructor-only; counted in official grading, left out of the student release.
    """

    id: str
    title: str
    points: float
    func: Callable[["Learner"], None]
    hidden: bool = False

    @property
    def number(self) -> str:
        return self.id.split(".", 1)[0]


_REGISTRY: dict[str, Check] = {}

# The line in a checks module after which only hidden checks (and their oracles) follow.
HIDDEN_CHECKS_MARKER = "# ==== HIDDEN CHECKS: instructor only; the student release ends this module above this line ===="


def check(id: str, title: str, points: float, *, hidden: bool = False) -> Callable[[Callable], Callable]:
    """Register ``func`` as a graded check and mark it for pytest.

    The function must be named ``test_*`` (pytest collects it) and take one argument,
    ``learner``, which the engine provides as a fixture. ``hidden=True`` makes it an
    instructor-only check (see the module docstring).

    Raises:
        ValueError: the id is malformed or already registered, or the name is not ``test_*``.
    """
    parts = id.split(".")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"check id {id!r} must read NN.function.case")
    if points <= 0:
        raise ValueError(f"check {id!r} must be worth more than 0 points")

    def decorate(func: Callable) -> Callable:
        import pytest  # here, so the sandboxed child can import CheckFailed without pytest

        if not func.__name__.startswith("test_"):
            raise ValueError(f"check function {func.__name__} must be named test_* so pytest collects it")
        if id in _REGISTRY and _REGISTRY[id].func.__qualname__ != func.__qualname__:
            raise ValueError(f"check id {id!r} is registered twice")
        _REGISTRY[id] = Check(id=id, title=title, points=points, func=func, hidden=hidden)
        marked = pytest.mark.check(id=id, points=points)(func)
        marked.check_id = id  # type: ignore[attr-defined]
        return marked

    return decorate


def checks_module(assignment: Assignment) -> ModuleType:
    """The assignment's checks module (``autograder.checks.<name>``), imported, which registers
    its checks."""
    return importlib.import_module(f"autograder.checks.{assignment.checks_module}")


def checks_for(assignment: Assignment | str, *, include_hidden: bool = False) -> list[Check]:
    """The public checks of one assignment (and its hidden ones with ``include_hidden``), in
    the order they are defined."""
    if isinstance(assignment, str):
        assignment = get_assignment(assignment)
    checks_module(assignment)
    return [c for c in _REGISTRY.values() if c.number == assignment.number and (include_hidden or not c.hidden)]


def get_check(check_id: str) -> Check:
    """Look a check up by id.

    Raises:
        KeyError: no check has that id.
    """
    number = check_id.split(".", 1)[0]
    try:
        checks_module(get_assignment(number))
    except ValueError:
        pass
    try:
        return _REGISTRY[check_id]
    except KeyError:
        raise KeyError(f"no check has id {check_id!r}") from None


def max_points(assignment: Assignment | str, *, include_hidden: bool = False) -> float:
    """Total points available in an assignment (public checks, or all with ``include_hidden``)."""
    return sum(c.points for c in checks_for(assignment, include_hidden=include_hidden))
