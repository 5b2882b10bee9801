"""Oracle fixtures: PyTorch's answers to the checks' cases, computed once in float64.

Grading the NumPy assignments (01-04) needs no ``import torch`` (about 1.5 s): each checks
module defines ``build_oracles() -> dict[str, np.ndarray]``, which imports torch and computes
expected outputs for its seeded cases; ``python -m autograder.oracles`` (``make fixtures``)
stores them in ``autograder/oracle_data/<assignment>.npz``, and the test suite rebuilds them
and compares, so torch stays the oracle and the files never drift.
"""

from __future__ import annotations

import argparse
import sys
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np

from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.errors import CourseSetupError
from autograder.paths import ORACLE_DATA_DIR
from autograder.registry import checks_module


class OracleError(CourseSetupError, RuntimeError):
    """An oracle fixture is missing or stale."""


def oracle_path(assignment: Assignment | str) -> Path:
    if isinstance(assignment, str):
        assignment = get_assignment(assignment)
    return ORACLE_DATA_DIR / f"{assignment.id}.npz"


@lru_cache(maxsize=None)
def load_oracles(assignment_id: str) -> Mapping[str, np.ndarray]:
    """The stored oracle arrays of one assignment (read-only).

    Raises:
        OracleError: the fixture file is missing; run ``make fixtures``.
    """
    path = oracle_path(assignment_id)
    if not path.exists():
        raise OracleError(f"oracle fixture {path} is missing: the course's files are incomplete; restore it with `git checkout -- {path}`.")
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
    arrays = load_oracles(get_assignment(assignment_id).id)
    try:
        return arrays[key]
    except KeyError:
        raise OracleError(f"oracle {key!r} of {assignment_id} is missing: the course's files are out of date; update your clone (git pull).") from None


def build_oracles(assignment: Assignment) -> dict[str, np.ndarray]:
    """Compute one assignment's oracles with PyTorch (imports torch)."""
    return checks_module(assignment).build_oracles()


def _same(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape and a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def write_oracles(assignment: Assignment) -> bool:
    """Rebuild and store one assignment's oracles; returns whether the file changed
    (an unchanged file is not rewritten, so ``make fixtures`` is idempotent)."""
    fresh = build_oracles(assignment)
    path = oracle_path(assignment)
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
            changed = write_oracles(assignment)
            print(f"{oracle_path(assignment)}: {'updated' if changed else 'unchanged'}")
    except (ValueError, CourseSetupError) as error:  # a bad id, or no MNIST / reference weights here
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
