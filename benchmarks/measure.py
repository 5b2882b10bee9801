"""Timing and memory helpers shared by the benchmarks.

The course machine has two cores shared with other work, so single timings are noise: every
benchmark repeats, reports the median with the min and max, and times the two things it compares
side by side (interleaved in one loop) so that a busy moment slows both.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar

import psutil

from autograder.paths import REPO_ROOT

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
MIB = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class Stats:
    """Repeated measurements of one quantity.

    Attributes:
        values: the measurements, in the order taken.
    """

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def format(self, unit: str = " s", scale: float = 1.0, digits: int = 2) -> str:
        """``"1.23 s (1.10-1.40)"``, or just ``"1.23 s"`` for one measurement; ``unit`` carries
        its own spacing (``" s"``, ``"x"``)."""
        text = f"{_number(self.median * scale, digits)}{unit}"
        if len(self.values) > 1:
            text += f" ({_number(self.min * scale, digits)}-{_number(self.max * scale, digits)})"
        return text


def _number(value: float, digits: int) -> str:
    """Significant figures that suit both 0.00042 s and 512 s."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude) if magnitude < digits else 0
    return f"{value:.{decimals}f}"


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Stats:
    """Per-repeat ratios of two interleaved series."""
    return Stats(tuple(n / d for n, d in zip(numerators, denominators)))


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """(result, seconds) of one call."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def compare(fns: Mapping[str, Callable[[], object]], repeats: int, min_seconds: float = 0.05, once: Mapping[str, float] | None = None) -> dict[str, Stats]:
    """Seconds per call of each function, sampled ``repeats`` times with the functions
    interleaved, so that load on the machine hits all of them alike.

    Args:
        fns: name -> function of no arguments.
        repeats: samples per function.
        min_seconds: a fast function is called enough times per sample to last this long.
        once: name -> seconds of a call already made (warm); otherwise each function is
            called once first to find out (which also warms it up).
    """
    once = dict(once or {})
    for name, fn in fns.items():
        if name not in once:
            once[name] = timed(fn)[1]
    numbers = {name: 1 if once[name] >= min_seconds else math.ceil(min_seconds / max(once[name], 1e-7)) for name in fns}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            started = time.perf_counter()
            for _ in range(numbers[name]):
                fn()
            samples[name].append((time.perf_counter() - started) / numbers[name])
    return {name: Stats(tuple(values)) for name, values in samples.items()}


def affordable_repeats(seconds_per_round: float, repeats: int, budget: float) -> int:
    """At most ``repeats``, fewer (at least one) when ``repeats`` rounds would exceed ``budget`` seconds."""
    return max(1, min(repeats, int(budget / max(seconds_per_round, 1e-9))))


def course_env(**extra: str) -> dict[str, str]:
    """The environment the Makefile gives the course's commands: this process's (where run.py
    has pointed ``CNN_COURSE_DATA`` at the shared MNIST copy), no GPU, the venv's scripts on PATH
    (nbgrader runs ``alembic``)."""
    env = dict(os.environ)
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


class TreeMemory:
    """Peak resident memory of a process and all its descendants, sampled on a thread.

    Attributes:
        peak_total: largest sum of RSS over the tree seen (bytes; shared pages count once per
            process, so an upper bound).
        peak_single: largest RSS of any one process seen (bytes).
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak_total = 0
        self.peak_single = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                processes = [self._root, *self._root.children(recursive=True)]
            except psutil.Error:
                processes = []
            for process in processes:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue  # ended between listing and reading
                total += rss
                self.peak_single = max(self.peak_single, rss)
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self._interval)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Run:
    """One finished command.

    Attributes:
        seconds: wall time from start to exit.
        returncode: its exit status.
        output: stdout and stderr, interleaved.
        peak_total: peak RSS summed over its process tree (bytes); 0 when not sampled.
        peak_single: peak RSS of its largest process (bytes); 0 when not sampled.
    """

    seconds: float
    returncode: int
    output: str
    peak_total: int = 0
    peak_single: int = 0

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def run_command(command: Sequence[str], *, cwd: Path = REPO_ROOT, env: Mapping[str, str] | None = None, timeout: float = 600, memory: bool = False) -> Run:
    """Run a command to completion and time it (cold: a fresh process each time).

    Args:
        command: argv.
        cwd: working directory.
        env: environment; :func:`course_env` when ``None``.
        timeout: seconds before it is killed (its result then has return code -9).
        memory: sample the process tree's peak memory.
    """
    started = time.perf_counter()
    process = subprocess.Popen(list(command), cwd=cwd, env=dict(env or course_env()), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeMemory(process.pid) if memory else nullcontext() as sampler:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            output += f"\n(killed after {timeout:g} s)"
    seconds = time.perf_counter() - started
    peaks = (sampler.peak_total, sampler.peak_single) if sampler else (0, 0)
    return Run(seconds, process.returncode, output or "", *peaks)


def load_average() -> str:
    """``"1.02 / 0.98 / 0.87"`` (1, 5 and 15 minutes)."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())
