"""Official grading: which runs count the instructor-only (hidden) checks.

A learner's own run (``make grade``, ``python -m autograder NOTEBOOK``) grades the public checks
only. Official grading grades public + hidden checks; it is every run that decides a grade:
``--batch``, ``--official``, ``--strict``, the Gradescope and PrairieLearn autograders, and any
run with the environment variable ``CI=true`` (what GitHub Actions and most CI services set).
``--local`` turns it off again, e.g. for a learner's CI that should match ``make grade``.
"""

from __future__ import annotations

import os
from typing import Mapping

TRUE_WORDS = ("1", "true", "yes", "on")


def in_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """``CI`` is set to a true word (``true``, ``1``, ``yes``, ``on``; any case)."""
    return environ.get("CI", "").strip().lower() in TRUE_WORDS


def is_official(*, official: bool = False, local: bool = False, batch: bool = False, strict: bool = False, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a run grades hidden checks too (see the module docstring); ``local`` wins."""
    if local:
        return False
    return official or batch or strict or in_ci(environ)
