"""The learner's quick self-checks in the notebooks.

``with selfcheck("corr2d"): ...`` prints a one-line verdict instead of stopping the notebook,
so an exercise notebook runs top to bottom even before anything is implemented.
``inputs_unchanged(corr2d, x, k)`` checks the contract every graded function shares: it never
writes into its arguments.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from autograder.i18n import _
from autograder.learner import LearnerError, call_learner


@contextmanager
def selfcheck(name: str) -> Iterator[None]:
    """Run a small example and print ✓ / ✗ / not implemented yet, never raising."""
    try:
        yield
    except NotImplementedError:
        print("… " + _("{name} is not implemented yet: fill in the cell above, then run this one again.").format(name=name))
    except AssertionError as exc:
        print(f"✗ {name}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a self-check reports, it never stops the notebook
        print("✗ " + _("{name} raised {type}: {problem}").format(name=name, type=type(exc).__name__, problem=exc))
    else:
        print("✓ " + _("{name} works on this small example. Run the autograder for the full checks.").format(name=name))


def inputs_unchanged(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, asserting that it left its array arguments as they were
    (the grader's own check, :func:`autograder.learner.call_learner`).

    Raises:
        AssertionError: the function changed an argument in place.
    """
    try:
        return call_learner(getattr(function, "__name__", _("the function")), function, args, kwargs)
    except LearnerError as exc:
        raise AssertionError(str(exc)) from None
