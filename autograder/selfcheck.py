"""The learner's quick self-checks in the notebooks.

``with selfcheck("corr2d"): ...`` prints a one-line verdict instead of stopping the notebook,
so an exercise notebook runs top to bottom even before anything is implemented.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def selfcheck(name: str) -> Iterator[None]:
    """Run a small example and print ✓ / ✗ / not implemented yet, never raising."""
    try:
        yield
    except NotImplementedError:
        print(f"… {name} is not implemented yet: fill in the cell above, then run this one again.")
    except AssertionError as exc:
        print(f"✗ {name}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a self-check reports, it never stops the notebook
        print(f"✗ {name} raised {type(exc).__name__}: {exc}")
    else:
        print(f"✓ {name} works on this small example. Run the autograder for the full checks.")
