"""``python -m autograder --watch PATH`` (``make watch``): regrade a notebook on every save.

Each save is graded by a fork of a warm template (:mod:`autograder.isolation.warm`), so a
regrade costs the checks, not Python's and torch's start-up. Only what changed since the last
grade is printed: newly passing and newly failing checks first, then checks whose message
changed, then the score. A half-written file (an editor saving in two steps) is reported in
one line and graded once it is whole; a notebook that hangs costs its time limits, then the
watch goes on. Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable

from autograder import engine, report
from autograder.notebook import NotebookError
from autograder.i18n import _

SETTLE_SECONDS = 0.2  # a file is graded once it has not changed for this long


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def changes(before: engine.NotebookResult | None, after: engine.NotebookResult) -> list[str]:
    """What changed between two grades of one notebook, newly passing and newly failing first
    (the first grade lists every check that does not pass)."""
    old = {c.id: c for c in before.checks} if before is not None and not before.error else {}
    lines_pass, lines_fail, lines_other = [], [], []
    for check in after.checks:
        previous = old.get(check.id)
        message = report.clean(check.message, chars=300, lines=3)
        if check.passed and (previous is None and before is not None or previous is not None and not previous.passed):
            lines_pass.append("  " + _("now passing  {id}").format(id=check.id))
        elif not check.passed and (previous is None or previous.passed):
            lines_fail.append("  " + (_("now failing  {id}: {message}") if before is not None else _("failing      {id}: {message}")).format(id=check.id, message=message))
        elif not check.passed and previous is not None and previous.message != check.message:
            lines_other.append("  " + _("still failing {id}, now: {message}").format(id=check.id, message=message))
    gone = sorted(set(old) - {c.id for c in after.checks})
    lines_other += ["  " + _("not run now  {id}").format(id=name) for name in gone]
    old_cells = set(before.cell_errors) if before is not None else set()
    lines_other += [f"  {report.clean(line, chars=300, lines=1)}" for line in after.cell_errors if line not in old_cells]
    return lines_pass + lines_fail + lines_other


def watch(
    path: str | os.PathLike[str],
    options: dict[str, Any],
    *,
    poll: float = 0.1,
    out: IO[str] | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> int:
    """Grade ``path`` now and again after every save until interrupted; returns the exit code
    (0 after Ctrl-C, 2 when ``path`` is not a file)."""
    out = out or sys.stdout
    path = Path(path)
    if not path.is_file():
        print(_("{path} is not a notebook file; --watch takes the path of one .ipynb file.").format(path=path), file=sys.stderr)
        return 2
    print(_("watching {path}; save it to regrade, Ctrl-C to stop").format(path=path), file=out, flush=True)
    last: engine.NotebookResult | None = None
    graded: tuple[int, int] | None = None
    interrupted: list[bool] = []

    def on_interrupt(signum: int, frame: Any) -> None:
        interrupted.append(True)  # remembered even where pytest catches the KeyboardInterrupt
        raise KeyboardInterrupt

    previous_handler = signal.signal(signal.SIGINT, on_interrupt) if threading.current_thread() is threading.main_thread() else None
    try:
        while keep_going() and not interrupted:
            seen = _signature(path)
            if seen is None or seen == graded:
                time.sleep(poll)
                continue
            time.sleep(SETTLE_SECONDS)
            if _signature(path) != seen:
                continue  # still being written
            graded = seen
            started = time.perf_counter()
            try:
                result = engine.grade_notebook(path, warm=True, **options)
            except NotebookError as exc:
                print(f"[{time.strftime('%H:%M:%S')}] " + _("not gradable yet: {problem} (waiting for the next save)").format(problem=report.clean(str(exc), chars=300, lines=1)), file=out, flush=True)
                continue
            except Exception as exc:  # noqa: BLE001 - the watch goes on after the grader's own failure
                print(f"[{time.strftime('%H:%M:%S')}] " + _("the grader failed: {type}: {problem}").format(type=type(exc).__name__, problem=exc), file=out, flush=True)
                continue
            elapsed = time.perf_counter() - started
            if interrupted:
                break
            lines = changes(last, result)
            passed = sum(c.passed for c in result.checks)
            head = f"[{time.strftime('%H:%M:%S')}] " + _("{score}/{maximum} points, {passed}/{count} checks pass ({seconds} s)").format(
                score=f"{result.score:g}", maximum=f"{result.max_score:g}", passed=passed, count=len(result.checks), seconds=f"{elapsed:.2f}"
            )
            print(head if lines or last is None else head + _("; nothing changed"), file=out)
            for line in lines:
                print(line, file=out)
            out.flush()
            last = result
    except KeyboardInterrupt:
        interrupted.append(True)
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)
    if interrupted:
        print(_("stopped watching"), file=out, flush=True)
    return 0
