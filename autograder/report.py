"""Reports of grading results: the terminal (rich), Gradescope JSON, JUnit XML and batch CSV.

Text that came from the learner's process (exception messages, printed output) is shown as
plain text with control characters removed and capped in length and lines, so it cannot
restyle, overwrite or flood the report; CSV fields never start a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator, Sequence

from autograder.engine import NotebookResult
from autograder.i18n import _

_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


MAX_CHARS = 8000
MAX_LINES = 100
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def clean(text: str, *, chars: int = MAX_CHARS, lines: int = MAX_LINES) -> str:
    """``text`` without ANSI escapes and control characters (newlines and tabs stay), capped
    at ``chars`` characters and ``lines`` lines: every learner-controlled string in a report
    passes through here."""
    text = str(text)[: chars * 2]
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = text.split("\n", lines)
    if len(kept) > lines:
        text = "\n".join(kept[:lines]) + "\n… " + _("[more lines not shown]")
    if len(text) > chars:
        text = text[:chars] + " … " + _("[{count}+ more characters not shown]").format(count=len(text) - chars)
    return text


def csv_safe(value: str) -> str:
    """A CSV field a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(CSV_FORMULA_STARTS) else value


def _write(path: str | Path, text: str) -> bool:
    """Write a report file; on failure say so in one line and let the other reports go on."""
    try:
        Path(path).write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        print(_("cannot write {path}: {problem}; the other reports are still written.").format(path=path, problem=exc.strerror or exc), file=sys.stderr)
        return False
    return True


def _points(value: float) -> str:
    return f"{value:g}"


def _percent(score: float, maximum: float) -> float:
    return 100.0 * score / maximum if maximum else 0.0


def totals(results: Sequence[NotebookResult]) -> tuple[float, float]:
    """(points earned, points available) over all notebooks that could be graded."""
    graded = [r for r in results if not r.error]
    return sum(r.score for r in graded), sum(r.max_score for r in graded)


def total_percent(results: Sequence[NotebookResult]) -> float:
    return _percent(*totals(results))


# -- terminal -----------------------------------------------------------------------------


def print_report(results: Sequence[NotebookResult], *, quiet: bool = False, verbose: bool = False, file: IO[str] | None = None) -> None:
    """One table per notebook (a line each with ``quiet``), then the overall total."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    console = Console(file=file or sys.stdout, highlight=False, soft_wrap=False)
    for result in results:
        if result.error:
            continue  # input errors go to stderr, one line each
        color = "bold green" if result.score == result.max_score else "bold yellow"
        total = Text(_("{score}/{maximum} points").format(score=_points(result.score), maximum=_points(result.max_score)), style=color)
        if quiet:
            console.print(Text.assemble((result.assignment, "bold"), "  ", total, f"  {result.path}"), soft_wrap=True)
            continue
        console.print()
        console.rule(Text.assemble((result.assignment, "bold"), f"  {result.path}"), align="left")
        for line in result.cell_errors:
            console.print(Text("⚠ " + clean(line), style="yellow"))
        for module in result.forbidden_imports:
            console.print(Text("⚠ " + _("the notebook imports {module}, which this assignment does not allow").format(module=module), style="yellow"))
        table = Table(show_header=False, expand=True, box=None, padding=(0, 1))
        table.add_column(width=1, no_wrap=True)
        table.add_column(ratio=1)
        table.add_column(justify="right", no_wrap=True)
        for check in result.checks:
            mark = Text("✓", style="green") if check.passed else Text("✗", style="red")
            text = Text.assemble((check.id, "bold"), "  ", (check.title, "dim"))
            if check.message:
                text.append("\n" + clean(check.message), style="red" if check.status == "failed" else "magenta")
            table.add_row(mark, text, f"{_points(check.earned)}/{_points(check.points)}")
        if not result.checks:
            table.add_row("", Text(_("no check matches --only"), style="dim"), "")
        table.add_row("", Text(_("total"), style="bold"), total)
        console.print(table)
        if result.info:
            console.print(Panel(Text(clean(result.info)), title=_("your own layers (informational)"), expand=True))
        if verbose and result.output.strip():
            console.print(Panel(Text(clean(result.output)), title=_("printed by the notebook (not part of grading)"), border_style="dim"))
    graded = [r for r in results if not r.error]
    if len(graded) > 1:
        score, maximum = totals(graded)
        console.print()
        console.print(Text(_("Total: {score}/{maximum} points ({percent}%) in {count} notebooks").format(score=_points(score), maximum=_points(maximum), percent=f"{_percent(score, maximum):.1f}", count=len(graded)), style="bold"))


@contextmanager
def progress(total: int, *, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr; yields ``advance(label)``. Silent when not a terminal."""
    if not enabled or total < 2 or not sys.stderr.isatty():
        yield lambda label: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[label]}", style="dim"))
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(_("grading"), total=total, label="")

        def advance(label: str) -> None:
            bar.update(task, advance=1, label=clean(label)[-50:])

        yield advance


# -- Gradescope JSON ----------------------------------------------------------------------


def gradescope(results: Sequence[NotebookResult], execution_time: float) -> dict:
    """Gradescope's ``results.json``: total score, one test per check (hidden checks with
    visibility ``after_published``), the notebook notes."""
    tests = []
    notes = []
    for result in results:
        if result.error:
            notes.append(f"{result.path}: {clean(result.error)}")
            continue
        notes += [f"{result.path}: {clean(line)}" for line in result.cell_errors]
        if result.info:
            notes.append(f"{result.path}: {clean(result.info)}")
        for check in result.checks:
            tests.append({
                "name": f"{check.id} {check.title}",
                "number": check.id,
                "score": check.earned,
                "max_score": check.points,
                "status": "passed" if check.passed else "failed",
                "output": clean(check.message),
                # hidden checks: Gradescope shows them (and their messages) once grades are published
                "visibility": "after_published" if check.hidden else "visible",
            })
    score, maximum = totals(results)
    return {
        "score": score,
        "max_score": maximum,
        "execution_time": round(execution_time, 3),
        "output": "\n".join(notes),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "notebooks": [
                {"path": str(r.path), "assignment": r.assignment, "score": r.score, "max_score": r.max_score, "error": clean(r.error or ""), "cell_errors": [clean(e) for e in r.cell_errors], "info": clean(r.info)}
                for r in results
            ]
        },
    }


def write_json(results: Sequence[NotebookResult], path: str | Path, execution_time: float) -> bool:
    return _write(path, json.dumps(gradescope(results, execution_time), indent=1, ensure_ascii=False) + "\n")


# -- JUnit XML ----------------------------------------------------------------------------


def junit(results: Sequence[NotebookResult]) -> ET.ElementTree:
    """One ``testsuite`` per notebook, one ``testcase`` per check."""
    suites = ET.Element("testsuites", name="autograder")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for result in results:
        suite = ET.SubElement(suites, "testsuite", name=result.assignment or str(result.path))
        tally = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        properties = ET.SubElement(suite, "properties")
        for key, value in (("notebook", str(result.path)), ("score", _points(result.score)), ("max_score", _points(result.max_score))):
            ET.SubElement(properties, "property", name=key, value=value)
        if result.error:
            case = ET.SubElement(suite, "testcase", classname=str(result.path), name="notebook", time="0")
            ET.SubElement(case, "error", message=clean(result.error, lines=1), type="NotebookError").text = clean(result.error)
            tally["tests"] += 1
            tally["errors"] += 1
        for check in result.checks:
            case = ET.SubElement(suite, "testcase", classname=result.assignment, name=f"{check.id} {check.title}", time=f"{check.duration:.3f}")
            message = clean(check.message)
            tally["tests"] += 1
            if check.status == "failed":
                ET.SubElement(case, "failure", message=message.splitlines()[0] if message else "failed", type="CheckFailed").text = message
                tally["failures"] += 1
            elif check.status == "error":
                ET.SubElement(case, "error", message=message.splitlines()[0] if message else "error", type="InternalError").text = message
                tally["errors"] += 1
            elif check.status == "skipped":
                ET.SubElement(case, "skipped", message=message)
                tally["skipped"] += 1
        if result.cell_errors:
            ET.SubElement(suite, "system-err").text = "\n".join(clean(e) for e in result.cell_errors)
        suite.set("time", f"{result.duration:.3f}")
        for key, value in tally.items():
            suite.set(key, str(value))
            counts[key] += value
    for key, value in counts.items():
        suites.set(key, str(value))
    return ET.ElementTree(suites)


def write_junit(results: Sequence[NotebookResult], path: str | Path) -> bool:
    tree = junit(results)
    ET.indent(tree)
    buffer = io.BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    return _write(path, buffer.getvalue().decode("utf-8"))


# -- batch CSV ----------------------------------------------------------------------------


def write_csv(rows: Sequence[tuple[str, NotebookResult]], target: str | Path | None) -> bool:
    """One row per (learner, notebook): totals, failed checks, errors, then one column of
    points per check id. ``target`` ``None`` or ``"-"`` writes to stdout. Text fields never
    start a formula (:func:`csv_safe`)."""
    check_ids: list[str] = []
    for _learner, result in rows:
        for check in result.checks:
            if check.id not in check_ids:
                check_ids.append(check.id)
    first_seen = {c: i for i, c in enumerate(check_ids)}
    check_ids.sort(key=lambda c: (c.split(".", 1)[0], first_seen[c]))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["learner", "assignment", "notebook", "score", "max_score", "percent", "failed_checks", "error", *check_ids])
    for learner, result in rows:
        earned = {c.id: _points(c.earned) for c in result.checks}
        failed = " ".join(c.id for c in result.checks if not c.passed)
        notes = clean(result.error or "; ".join(clean(e, chars=500, lines=1) for e in result.cell_errors), chars=2000, lines=1)
        writer.writerow([
            csv_safe(clean(learner, chars=200, lines=1)), csv_safe(result.assignment), csv_safe(clean(str(result.path), chars=500, lines=1)),
            _points(result.score), _points(result.max_score),
            f"{_percent(result.score, result.max_score):.1f}", failed, csv_safe(notes), *(earned.get(c, "") for c in check_ids),
        ])
    if target is None or str(target) == "-":
        sys.stdout.write(buffer.getvalue())
        return True
    return _write(target, buffer.getvalue())
