"""``python -m autograder --watch``: regrades on save and prints what changed, survives a
half-written file and a hanging notebook, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder.engine import CheckResult, NotebookResult
from autograder.paths import REPO_ROOT
from autograder.watch import changes

from hostile import BASE, pad2d_body, require_bwrap, solution_with

pytestmark = pytest.mark.xdist_group("sandbox-timing")

ONLY = "02.pad2d.values"


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class Watcher:
    def __init__(self, notebook: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autograder", "--watch", str(notebook), "--only", ONLY, "--timeout", "2", "--notebook-timeout", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line.rstrip("\n")) for line in self.process.stdout], daemon=True).start()  # type: ignore[union-attr]

    def until(self, text: str, timeout: float = 60) -> list[str]:
        """The lines printed up to the first that contains ``text``, and those right after it."""
        seen, deadline = [], time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if text in line:
                while True:  # and the lines that follow it at once
                    try:
                        seen.append(self.lines.get(timeout=0.7))
                    except queue.Empty:
                        return seen
        raise AssertionError(f"{text!r} not printed within {timeout} s; got {seen}")


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    require_bwrap()
    folder = tmp_path_factory.mktemp("watch")
    solved = solution_with(folder / "solved", {})
    broken = solution_with(folder / "broken", pad2d_body("    return x"))
    hanging = solution_with(folder / "hanging", {}, extra_cells=("while True:\n    pass",))
    notebook = solution_with(folder / "learner", {})
    watcher = Watcher(notebook)
    log = {"first": watcher.until("points")}
    notebook.write_bytes(broken.read_bytes())
    log["broken"] = watcher.until("points")
    notebook.write_bytes(broken.read_bytes()[:500])  # an editor half-way through a save
    log["half"] = watcher.until("not gradable yet")
    notebook.write_bytes(hanging.read_bytes())
    log["hanging"] = watcher.until("points")
    notebook.write_bytes(solved.read_bytes())
    log["fixed"] = watcher.until("points")
    children = _descendants(watcher.process.pid)
    watcher.process.send_signal(signal.SIGINT)
    log["stop"] = watcher.until("stopped watching", timeout=20)
    log["returncode"] = watcher.process.wait(timeout=20)
    time.sleep(0.5)
    log["left"] = [pid for pid in children if Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]]
    log["children"] = children
    return log


def test_watch_grades_and_regrades_on_save_printing_what_changed(watched):
    assert "1/1 checks pass" in watched["first"][1] and len(watched["first"]) == 2 and not any("now" in line or "changed" in line for line in watched["first"])
    assert "0/1 checks pass" in watched["broken"][0] and "now failing  02.pad2d.values" in watched["broken"][1]
    # the hanging notebook's pad2d is right again (its last cell hangs): newly passing first
    assert "1/1 checks pass" in watched["hanging"][0] and watched["hanging"][1].strip() == "now passing  02.pad2d.values"
    assert watched["fixed"] == [watched["fixed"][0]] and watched["fixed"][0].endswith("; nothing changed")


def test_watch_survives_a_half_written_file_and_a_hanging_notebook(watched):
    assert len(watched["half"]) == 1
    hanging = "\n".join(watched["hanging"])
    assert "1/1 checks pass" in hanging and "did not finish within 2 s" in hanging, hanging


def test_ctrl_c_stops_the_watch_cleanly(watched):
    assert watched["returncode"] == 0 and watched["children"]  # it had a warm template
    assert watched["left"] == []
    assert not any("Traceback" in line for key in ("first", "broken", "half", "hanging", "fixed", "stop") for line in watched[key])


def test_changes_lists_newly_passing_then_newly_failing_then_the_rest():
    def result(*checks: tuple[str, str, str]) -> NotebookResult:
        return NotebookResult(path=Path("x.ipynb"), assignment=BASE, checks=[CheckResult(i, i, 1, float(s == "passed"), s, m) for i, s, m in checks])

    before = result(("a", "failed", "wrong"), ("b", "passed", ""), ("c", "failed", "old"), ("d", "passed", ""))
    after = result(("b", "failed", "now wrong"), ("a", "passed", ""), ("c", "failed", "new"), ("d", "passed", ""))
    assert changes(before, after) == ["  now passing  a", "  now failing  b: now wrong", "  still failing c, now: new"]
    assert changes(after, after) == []
