"""2. Batch grading: a class of synthetic submissions through ``python -m autograder --batch``.

Learner ``i`` hands in all five assignments; assignment ``j`` is the solution, the blank exercise
or a seeded-bug copy of the solution by ``(i + j) % 3``, so a class holds about a third of
each, and every 05 sits beside its learner's own 02-04 (which it imports, whatever their state).
The CSV is checked against what each kind must score, so a fast but wrong batch cannot pass.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Mapping

from autograder.assignments import ASSIGNMENTS
from autograder.notebook import solution_with_replacements

from measure import MIB, run_command
from results import Goal, Section, Table

GOAL_NOTEBOOKS = 500
GOAL_SECONDS = 300.0
KINDS = ("solution", "blank", "bug")

# Seeded bugs per assignment (text replacements in the solution's code), taken from the
# assignments' tests; each costs points but not all of them.
BUGS: dict[str, tuple[Mapping[str, str], ...]] = {
    "01-convolution": (
        {"return corr2d(x, k[::-1, ::-1])": "return corr2d(x, k)"},
        {"return np.sqrt(gx**2 + gy**2)": "return gx**2 + gy**2"},
    ),
    "02-padding-stride": (
        {"[:, :, ::sh, ::sw]": ""},
        {"(ph, ph), (pw, pw)": "(0, 2 * ph), (0, 2 * pw)"},
    ),
    "03-pooling": (
        {"fill=-np.inf": "fill=0.0"},
        {"return x.mean(axis=(2, 3))": "return x.mean(axis=(2, 3), keepdims=True)"},
    ),
    "04-backprop": (
        {"w_rot = w[:, :, ::-1, ::-1]": "w_rot = w"},
        {"return dout * (x > 0)": "return dout * (x >= 0)"},
    ),
    "05-architectures": (
        {"biases = c_out if bias else 0": "biases = 0"},
        {"h = h.reshape(len(h), -1)": "h = h.transpose(0, 2, 3, 1).reshape(len(h), -1)"},
    ),
    "06-training": (
        {'if weight_decay and key.endswith(".weight"):': "if weight_decay:"},
        {"[0].argmax(axis=1)\n": "[0]\n"},
    ),
    "08-modern": (
        {"momentum * var * m / (m - 1)": "momentum * var"},
        {"return dx + dx_shortcut, grads": "return dx, grads"},
    ),
}


def make_class(root: Path, learners: int) -> dict[str, str]:
    """Lay out ``root/<learner>/<assignment>/<notebook>``; returns notebook path -> kind."""
    kinds: dict[str, str] = {}
    for i in range(learners):
        for j, assignment in enumerate(ASSIGNMENTS):
            target = root / f"learner{i:03d}" / assignment.id / assignment.notebook
            target.parent.mkdir(parents=True)
            kinds_here = KINDS if assignment.id in BUGS else KINDS[:2]  # an assignment without seeded bugs yet: solutions and blanks
            kind = kinds_here[(i + j) % len(kinds_here)]
            if kind == "solution":
                shutil.copyfile(assignment.solution_path, target)
            elif kind == "blank":
                shutil.copyfile(assignment.exercise_path, target)
            else:
                bugs = BUGS[assignment.id]
                target.write_text(solution_with_replacements(assignment, bugs[i % len(bugs)]), encoding="utf-8")
            kinds[str(target)] = kind
    return kinds


def wrong_scores(csv_path: Path, kinds: Mapping[str, str]) -> list[str]:
    """Rows whose score does not fit their kind: full marks for solutions, none for blanks,
    some but not all for seeded bugs."""
    problems = []
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    seen = set()
    for row in rows:
        path, score, top = row["notebook"], float(row["score"] or 0), float(row["max_score"] or 0)
        kind = kinds.get(path, "?")
        seen.add(path)
        fits = {"solution": top > 0 and score == top, "blank": score == 0, "bug": 0 < score < top}.get(kind, False)
        if not fits or (row["error"] and kind == "solution"):
            problems.append(f"{Path(path).relative_to(Path(path).parents[2])} ({kind}): {score:g}/{top:g} {row['error'][:80]}".strip())
    problems += [f"{path}: missing from the CSV" for path in kinds if path not in seen]
    return problems


def seconds_per_assignment(junit: Path) -> dict[str, float]:
    """Assignment -> total seconds its notebooks took in the worker processes (JUnit suite times)."""
    totals: dict[str, float] = {}
    for suite in ET.parse(junit).iter("testsuite"):
        name = suite.get("name", "?")
        totals[name] = totals.get(name, 0.0) + float(suite.get("time", 0))
    return totals


def run(quick: bool) -> Section:
    learners = 1 if quick else 20
    section = Section(
        "2. Batch grading",
        f"{learners * len(ASSIGNMENTS)} synthetic submissions ({learners} learner(s) x {len(ASSIGNMENTS)} assignments: "
        "solutions, blank exercises and seeded-bug copies, about a third each) graded with "
        "`python -m autograder --batch DIR --jobs N`. Peak memory is sampled every 50 ms over the whole process tree.",
    )
    table = Table("One pass over the class", ["--jobs", "notebooks", "wall time", "notebooks/s", f"{GOAL_NOTEBOOKS} notebooks (extrapolated)",
                                              "peak RSS, all processes", "peak RSS, largest process", "scores as expected"])
    rates: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="cnn-bench-batch-") as tmp:
        root = Path(tmp) / "class"
        kinds = make_class(root, learners)
        for jobs in (1, 2):
            out, junit = Path(tmp) / f"jobs{jobs}.csv", Path(tmp) / f"jobs{jobs}.xml"
            command = [sys.executable, "-m", "autograder", "--batch", str(root), "--jobs", str(jobs), "--csv", str(out), "--junit", str(junit), "--quiet"]
            result = run_command(command, memory=True, timeout=1800)
            if result.returncode != 0 or not out.exists():
                raise RuntimeError(f"--batch --jobs {jobs} exited {result.returncode}:\n{result.tail()}")
            problems = wrong_scores(out, kinds)
            rates[jobs] = len(kinds) / result.seconds
            table.add(jobs, len(kinds), f"{result.seconds:.0f} s", f"{rates[jobs]:.2f}", f"{GOAL_NOTEBOOKS / rates[jobs]:.0f} s",
                      f"{result.peak_total / MIB:.0f} MiB", f"{result.peak_single / MIB:.0f} MiB", f"{len(kinds) - len(problems)}/{len(kinds)}")
            section.notes += [f"--jobs {jobs}: unexpected score: {p}" for p in problems]
        spent = seconds_per_assignment(junit)
    section.tables.append(table)
    share = Table("Where the --jobs 2 pass spent its time (notebook grading time, summed over workers)", ["assignment", "notebooks", "seconds each", "share"])
    counts = {a.id: sum(1 for path in kinds if Path(path).parent.name == a.id) for a in ASSIGNMENTS}
    for assignment in ASSIGNMENTS:
        seconds = spent.get(assignment.id, 0.0)
        share.add(assignment.id, counts[assignment.id], f"{seconds / max(counts[assignment.id], 1):.1f}", f"{seconds / max(sum(spent.values()), 1e-9):.0%}")
    section.tables.append(share)

    projected = GOAL_NOTEBOOKS / rates[2]
    heaviest = max(spent, key=spent.__getitem__)
    section.goals.append(Goal(
        f"{GOAL_NOTEBOOKS} notebooks on 2 cores", f"< {GOAL_SECONDS / 60:g} min", f"{projected:.0f} s at --jobs 2 (extrapolated from {len(kinds)})",
        projected < GOAL_SECONDS,
        f"a notebook costs {2 / rates[2]:.1f} core-seconds on average at --jobs 2, where {GOAL_SECONDS * 2 / GOAL_NOTEBOOKS:.1f} would do; "
        f"{heaviest} takes {spent[heaviest] / sum(spent.values()):.0%} of the grading time for {counts[heaviest] / len(kinds):.0%} of the notebooks. "
        f"Fix: cheaper {heaviest} checks (see the latency goal), or more cores (--jobs scales with them).",
    ))
    section.notes.append(f"The {GOAL_NOTEBOOKS}-notebook figure is extrapolated linearly from this run's rate, not measured.")
    section.notes.append("Each run is one pass over the class (already an aggregate of many notebooks), so there is no min-max.")
    if quick:
        section.notes.append(f"--quick: {len(kinds)} submissions instead of 100.")
    return section
