"""Where things live: the repository, notebooks, fixtures and the MNIST data directory."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR: Path = Path(__file__).resolve().parent
REPO_ROOT: Path = PACKAGE_DIR.parent
SOLUTIONS_DIR: Path = REPO_ROOT / "solutions"
EXERCISES_DIR: Path = REPO_ROOT / "exercises"
ORACLE_DATA_DIR: Path = PACKAGE_DIR / "oracle_data"
REFERENCE_DIR: Path = PACKAGE_DIR / "reference"

DATA_ENV_VAR = "CNN_COURSE_DATA"


def data_root() -> Path:
    """The course data directory.

    ``$CNN_COURSE_DATA`` when set (tests and CI point it at the shared copy), otherwise the
    per-user cache ``$XDG_CACHE_HOME/cnn-course`` (``~/.cache/cnn-course`` by default).
    """
    configured = os.environ.get(DATA_ENV_VAR)
    if configured:
        return Path(configured).expanduser().resolve()
    return cache_dir()


def cache_dir() -> Path:
    """A per-user cache for small machine-specific files (e.g. timing baselines)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "cnn-course"
