"""Oracle fixtures: PyTorch's answers to the checks' cases, computed once in float64.

Grading the NumPy assignments (01-04) needs no ``import torch`` (about 1.5 s): each checks
module defines ``build_oracles() -> dict[str, np.ndarray]``, which imports torch and computes
expected outputs for its seeded cases; ``python -m autograder.oracles`` (``make fixtures``)
stores them in ``autograder/oracle_data/<assignment>.npz``, and the test suite rebuilds them
and compares, so torch stays the oracle and the files never drift.

A module's hidden checks get their own ``build_hidden_oracles()``, stored apart in
``autograder/oracle_data/hidden/<assignment>.npz`` so that the student release can leave
them out; :func:`oracle` looks there for a key the public file does not hold.
"""

from __future__ import annotations

import argparse
import sys
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np

from autograder.i18n import _
from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.errors import CourseSetupError
from autograder.paths import ORACLE_DATA_DIR
from autograder.registry import checks_module


class OracleError(CourseSetupError, RuntimeError):
    """An oracle fixture is missing or stale."""


HIDDEN_ORACLE_DIR: Path = ORACLE_DATA_DIR / "hidden"


def oracle_path(assignment: Assignment | str, *, hidden: bool = False) -> Path:
    if isinstance(assignment, str):
        assignment = get_assignment(assignment)
    return (HIDDEN_ORACLE_DIR if hidden else ORACLE_DATA_DIR) / f"{assignment.id}.npz"


@lru_cache(maxsize=None)
def load_oracles(assignment_id: str, *, hidden: bool = False) -> Mapping[str, np.ndarray]:
    """The stored oracle arrays of one assignment (read-only): the public checks', or the
    hidden checks' with ``hidden``.

    Raises:
        OracleError: the fixture file is missing; run ``make fixtures``.
    """
    path = oracle_path(assignment_id, hidden=hidden)
    if not path.exists():
        raise OracleError(_("oracle fixture {path} is missing: the course's files are incomplete; restore it with `git checkout -- {path}`.").format(path=path))
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def oracle(assignment_id: str, key: str) -> np.ndarray:
    """One stored oracle array.

    Raises:
        OracleError: the key is not stored; run ``make fixtures``.
    """
    assignment = get_assignment(assignment_id)
    arrays = load_oracles(assignment.id)
    if key not in arrays and oracle_path(assignment, hidden=True).exists():
        arrays = load_oracles(assignment.id, hidden=True)
    try:
        return arrays[key]
    except KeyError:
        raise OracleError(_("oracle {key} of {assignment} is missing: the course's files are out of date; update your clone (git pull).").format(key=repr(key), assignment=assignment_id)) from None


def build_oracles(assignment: Assignment, *, hidden: bool = False) -> dict[str, np.ndarray]:
    """Compute one assignment's oracles with PyTorch (imports torch): the public checks', or
    with ``hidden`` the hidden checks' (empty when the module has none)."""
    module = checks_module(assignment)
    if hidden:
        return module.build_hidden_oracles() if hasattr(module, "build_hidden_oracles") else {}
    return module.build_oracles()


def _same(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def write_oracles(assignment: Assignment, *, hidden: bool = False) -> bool:
    """Rebuild and store one assignment's public (or ``hidden``) oracles; returns whether the
    file changed (an unchanged file is not rewritten, so ``make fixtures`` is idempotent)."""
    fresh = build_oracles(assignment, hidden=hidden)
    path = oracle_path(assignment, hidden=hidden)
    if not fresh:
        return False
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            if _same(fresh, {k: data[k] for k in data.files}):
                return False
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **fresh)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.oracles", description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids or numbers (default: all)")
    args = parser.parse_args(argv)
    try:
        chosen = [get_assignment(a) for a in args.assignments] or list(ASSIGNMENTS)
        for assignment in chosen:
            for hidden in (False, True):
                if hidden and not hasattr(checks_module(assignment), "build_hidden_oracles"):
                    continue
                changed = write_oracles(assignment, hidden=hidden)
                print(f"{oracle_path(assignment, hidden=hidden)}: {'updated' if changed else 'unchanged'}")
    except (ValueError, CourseSetupError) as error:  # a bad id, or no MNIST / reference weights here
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
