"""4. Book build: a clean ``jupyter-book build --all`` and a rebuild with nothing changed.

The command is the Makefile's ``book`` target (its site-assets step, then ``jupyter-book build
-W --keep-going``), pointed at a temporary ``--path-output`` so the clean build really starts
from nothing (no ``_build/.jupyter_cache``: every chapter executes) and the repository's own
``_build`` is left alone.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from autograder.paths import REPO_ROOT

from measure import Run, Stats, run_command
from results import Section, Table

BUILD_TIMEOUT_S = 1200


def jupyter_book(out: Path, *, clean: bool) -> list[str]:
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", "-W", "--keep-going"]
    return [*command, *(["--all"] if clean else []), "--path-output", str(out), str(REPO_ROOT)]


def failure(build: Run, section: Section) -> str:
    """``""`` for a build that passed; else a mark for the table, with its first problems noted."""
    if build.returncode == 0:
        return ""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", build.output).splitlines()
    problems = [line.strip() for line in plain if "WARNING" in line or "ERROR" in line]
    section.notes.append(f"the build exited {build.returncode} (-W turns warnings into errors): " + " / ".join(problems[:3] or plain[-3:]))
    return f" (failed, exit {build.returncode})"


def run(quick: bool) -> Section:
    section = Section(
        "4. Book build",
        "`make book`'s steps into a temporary `--path-output`: `python -m autograder.site_assets` (offline JavaScript copies), "
        "then `jupyter-book build -W --keep-going`, first with `--all` from an empty folder (every chapter executes), "
        "then again with nothing changed.",
    )
    if quick:
        section.skipped = "--quick skips the book (a clean build executes every chapter); run `make bench` for it."
        return section
    rebuilds = 3
    table = Table("Wall time", ["step", "runs", "seconds"])
    assets = run_command([sys.executable, "-m", "autograder.site_assets"])
    if assets.returncode != 0:
        section.notes.append(f"site_assets exited {assets.returncode} (the build falls back to the CDNs): {assets.tail(3)}")
    table.add("site assets (`python -m autograder.site_assets`, already in place)", 1, Stats((assets.seconds,)).format())
    with tempfile.TemporaryDirectory(prefix="cnn-bench-book-") as tmp:
        out = Path(tmp)
        clean = run_command(jupyter_book(out, clean=True), timeout=BUILD_TIMEOUT_S)
        pages = len(list((out / "_build" / "html").rglob("*.html")))
        table.add(f"clean build, `--all` ({pages} HTML pages)", 1, Stats((clean.seconds,)).format() + failure(clean, section))
        again = [run_command(jupyter_book(out, clean=False), timeout=BUILD_TIMEOUT_S) for _ in range(rebuilds)]
        table.add("rebuild, nothing changed", rebuilds, Stats(tuple(r.seconds for r in again)).format() + failure(again[-1], section))
    section.tables.append(table)
    section.notes.append("The clean build runs once (it executes every chapter); the rebuild is the median of three.")
    return section
