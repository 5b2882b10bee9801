"""What a benchmark reports, printed with rich and written to ``RESULTS.md`` from one source.

A benchmark returns a :class:`Section`: tables, the goals it checks (met or not, and when not,
why and what would fix it), and notes on method. :func:`print_section` shows it in the terminal;
:func:`markdown` renders all sections, with the machine they ran on, as ``RESULTS.md``.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Sequence

import psutil
from rich.console import Console
from rich.table import Table as RichTable

from autograder.machine import cpu_model
from measure import load_average


@dataclass
class Table:
    """A table of strings.

    Attributes:
        title: one line above the table.
        columns: column headers.
        rows: cells, one list per row, as many as ``columns``.
    """

    title: str
    columns: Sequence[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def rich(self) -> RichTable:
        table = RichTable(title=self.title, title_justify="left", title_style="bold")
        for index, column in enumerate(self.columns):
            table.add_column(column, justify="left" if index == 0 else "right")
        for row in self.rows:
            table.add_row(*row)
        return table

    def markdown(self) -> str:
        def escape(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = ([f"**{self.title}**", ""] if self.title else []) + ["| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|")
        lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass(frozen=True)
class Goal:
    """A target from the product issue and how this run did.

    Attributes:
        name: what is measured, e.g. ``"CLI latency per notebook"``.
        target: the goal, e.g. ``"< 3 s"``.
        measured: the measured value, formatted.
        met: whether the goal is met.
        why: when not met, the reason and what would fix it.
    """

    name: str
    target: str
    measured: str
    met: bool
    why: str = ""

    @property
    def verdict(self) -> str:
        return "met" if self.met else "**not met**"


@dataclass
class Section:
    """One benchmark's results.

    Attributes:
        title: e.g. ``"1. Grading latency"``.
        summary: what was measured and how, a short paragraph.
        tables: the numbers.
        goals: the goals checked.
        notes: further remarks (method, caveats), one per bullet.
        skipped: why the benchmark did not run (``--quick``, a missing piece); empty when it ran.
        seconds: how long it ran.
        load: the load average (1/5/15 min) when it started.
    """

    title: str
    summary: str = ""
    tables: list[Table] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    seconds: float = 0.0
    load: str = ""


def goals_table(goals: Sequence[Goal], title: str = "Goals") -> Table:
    table = Table(title, ["goal", "target", "measured", "verdict"])
    for goal in goals:
        table.add(goal.name, goal.target, goal.measured, goal.verdict)
    return table


def print_section(console: Console, section: Section) -> None:
    console.rule(f"[bold]{section.title}")
    if section.skipped:
        console.print(f"[yellow]skipped:[/] {section.skipped}")
        return
    for table in section.tables:
        console.print(table.rich())
    if section.goals:
        console.print(goals_table(section.goals).rich())
        for goal in section.goals:
            if not goal.met:
                console.print(f"[red]not met[/] {goal.name}: {goal.why}")
    for note in section.notes:
        console.print(f"[dim]- {note}[/]")
    console.print(f"[dim]({section.seconds:.0f} s; load at its start {section.load})[/]")


def machine() -> dict[str, str]:
    """The machine and software the numbers come from."""
    import numpy
    import torch

    cpu = cpu_model() or platform.processor() or "unknown CPU"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": cpu,
        "cores": f"{os.cpu_count()} logical ({usable} usable by this process)",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "torch": f"{torch.__version__} ({torch.get_num_threads()} threads; CUDA {'available' if torch.cuda.is_available() else 'not available'})",
        "numpy": numpy.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load average at start (1/5/15 min)": load_average(),
    }


def markdown(sections: Sequence[Section], info: dict[str, str], command: str) -> str:
    """``RESULTS.md``: the machine, a summary of every goal, then each section."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` (`benchmarks/run.py`); do not edit by hand, run it again.",
        "Times are medians of repeated runs with (min-max); ratios are taken per repeat from runs",
        "made side by side. The machine is shared with other work: each section gives the load average at its start,",
        "and the min-max ranges show how noisy it was.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in info.items()),
        "",
    ]
    goals = [goal for section in sections for goal in section.goals]
    if goals:
        lines += ["## Goals", "", goals_table(goals, title="").markdown(), ""]
        unmet = [goal for goal in goals if not goal.met]
        if unmet:
            lines += ["Goals not met, why, and what would fix them:", ""]
            lines += [f"- **{goal.name}** ({goal.measured}, goal {goal.target}): {goal.why}" for goal in unmet]
            lines.append("")
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.skipped:
            lines += [f"Skipped: {section.skipped}", ""]
            continue
        if section.summary:
            lines += [section.summary, ""]
        for table in section.tables:
            lines += [table.markdown(), ""]
        if section.notes:
            lines += [f"- {note}" for note in section.notes]
            lines.append("")
        lines += [f"_Section run time: {section.seconds:.0f} s; load average (1/5/15 min) at its start: {section.load}._", ""]
    return "\n".join(lines)
