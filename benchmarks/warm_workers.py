"""7. Warm workers: a class of 500 mixed notebooks through ``--batch --jobs 2``, warm and cold
side by side, a ``--watch`` regrade cycle per assignment, and each assignment's one-off CLI
time against ``nbgrader autograde``'s.

The class: learner ``i`` hands in every assignment of the registry (:data:`ASSIGNMENTS`, so a
new assignment joins once it is registered; solution, blank or a seeded bug, as in section 2),
plus a few hostile learners (a hanging cell, ``os._exit`` in a graded function, a memory bomb,
torch in a NumPy exercise, a notebook that disarms the audit hook and leaves files and
processes behind). It is graded in two parts, each warm then cold on the same folder: the
notebooks whose grading trains a network (the solutions and seeded bugs of an assignment with a
training gate, :func:`gated`) and all the others; their per-check JUnit outcomes must be
identical warm vs cold notebook by notebook. ``BENCH_WARM_GATES=N`` grades only the first N
gate notebooks (each trains for about a minute on a busy machine) and says so in the results.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.notebook import solution_with_replacements

from batch_grading import make_class, wrong_scores
from measure import MIB, Run, Stats, course_env, load_average, ratios, run_command
from results import Goal, Section, Table

CLASS_SIZE = 500
GOAL_SECONDS = 90.0
WATCH_GOAL = 1.0
SPEEDUP_GOAL = 5.0
# Why a one-off CLI grade is not 5x faster than nbgrader's, by kind of assignment.
SLOW_BECAUSE = {
    "gate": "both graders train the same network with the same layers for the accuracy gate, a floor for both",
    "torch": "a one-off grade is cold: the sandbox imports torch, as nbgrader's kernel does, and runs the checks' own work; a warm regrade is the watch table's",
    "other": "see the profile note",
}
# Where a warm regrade's time goes, profiled by hand (cProfile and process CPU time of the grading
# process, timings of the child's work; 2026-12-01, load 9-13 on the 2 cores): not measured by this run.
PROFILE = (
    "Profile of a warm regrade (by hand, load 9-13, not this run): the grading process spends 0.04-0.05 CPU-seconds per notebook on a blank 01 "
    "(pytest session, codec, checks' comparisons) and 0.1-0.2 on 02-08 solutions, so the wall time is the sandboxed child's work and waiting for a core. "
    "The child's work is what the checks require of the learner's code: 05's accuracy check runs the learner's LeNet-5 with the torch stand-ins in float64 "
    "on 2,000 images (2.0 of 05's 2.6 s at load 10; conv1 alone 1.2 s; im2col in NumPy or torch unfold+matmul take the same time, float32 a quarter, "
    "but the fixture's predictions are float64's), 02's speed check times the learner's convolution against a reference (0.45 s), 08's ResNet-18 forward (0.7 s), "
    "06's gate trains the network. A cold one-off CLI grade imports pytest (0.5 s at load 10) and NumPy in the grading process, never torch; "
    "05 and 08 pay torch's import in the child, as nbgrader's kernel does."
)
PAD2D = "    ph, pw = as_pair(padding)\n    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))"
HOSTILE = {
    # learner -> (assignment, replacements in its solution, extra code cell)
    "hostile_hanging_cell": ("02-padding-stride", {}, "while True:\n    pass"),
    "hostile_os_exit": ("02-padding-stride", {PAD2D: "    import os\n    os._exit(0)"}, ""),
    "hostile_memory_bomb": ("03-pooling", {}, "hog = []\nwhile True:\n    hog.append(bytearray(2**27))"),
    "hostile_torch_in_numpy": ("01-convolution", {}, "import torch"),
    "hostile_leaves_processes": ("04-backprop", {}, "import os\ntry:\n    os.fork()\nexcept Exception as exc:\n    print(exc)\nopen('left.txt', 'w').write('x')"),
}


def _with_cell(assignment_id: str, replacements: dict[str, str], cell: str) -> str:
    import json

    data = json.loads(solution_with_replacements(get_assignment(assignment_id), replacements))
    if cell:
        data["cells"].append({"cell_type": "code", "metadata": {}, "source": cell, "outputs": [], "execution_count": None})
    return json.dumps(data)


def make_mixed_class(root: Path, size: int) -> dict[str, str]:
    """``size`` notebooks: :func:`make_class` learners plus the hostile ones; path -> kind."""
    per_learner = len(ASSIGNMENTS)
    kinds = make_class(root, (size - len(HOSTILE)) // per_learner)
    extra = size - len(HOSTILE) - len(kinds)
    if extra:  # top up with solutions of a last learner
        for assignment in ASSIGNMENTS[:extra]:
            target = root / "learner_last" / assignment.id / assignment.notebook
            target.parent.mkdir(parents=True)
            target.write_bytes(assignment.solution_path.read_bytes())
            kinds[str(target)] = "solution"
    for learner, (assignment_id, replacements, cell) in HOSTILE.items():
        assignment = get_assignment(assignment_id)
        target = root / learner / assignment.id / assignment.notebook
        target.parent.mkdir(parents=True)
        target.write_text(_with_cell(assignment_id, replacements, cell), encoding="utf-8")
        kinds[str(target)] = "hostile"
    return kinds


def outcomes(junit: Path) -> dict[str, list[tuple[str, str]]]:
    """\"<position> <assignment>\" -> [(check, outcome)] for each notebook of a JUnit report."""
    found: dict[str, list[tuple[str, str]]] = {}
    for index, suite in enumerate(ET.parse(junit).iter("testsuite")):  # one per notebook, in folder order
        cases = []
        for case in suite.iter("testcase"):
            outcome = "failed" if case.find("failure") is not None else "error" if case.find("error") is not None else "skipped" if case.find("skipped") is not None else "passed"
            cases.append((case.get("name", "?"), outcome))
        found[f"{index} {suite.get('name', '?')}"] = cases
    return found


def csv_rows(path: Path) -> dict[str, tuple[str, str, str]]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return {row["notebook"]: (row["score"], row["max_score"], row["error"]) for row in csv.DictReader(handle)}


def watch_cycles(repeats: int) -> dict[str, tuple[list[float], str]]:
    """Assignment -> (seconds of each warm regrade of its solution, what one --watch cycle
    costs after a save, after one warm-up grade that starts the template; the load average at
    its start). A gated assignment is regraded once, without a warm-up: its gate trains."""
    from autograder import engine

    times: dict[str, tuple[list[float], str]] = {}
    for assignment in ASSIGNMENTS:
        load = load_average()
        if assignment.id not in gated():
            engine.grade_notebook(assignment.solution_path, warm=True, strict=True)
        runs = []
        for _ in range(1 if assignment.id in gated() else repeats):
            started = time.perf_counter()
            engine.grade_notebook(assignment.solution_path, warm=True, strict=True)
            runs.append(time.perf_counter() - started)
        times[assignment.id] = (runs, load)
    return times


def gated(assignment_ids: Iterable[str] | None = None) -> set[str]:
    """The assignments whose grading trains the learner's network: those the registry gives a
    longer time budget (06's accuracy gate)."""
    return {a.id for a in ASSIGNMENTS if a.budget is not None and (assignment_ids is None or a.id in assignment_ids)}


def split(kinds: dict[str, str], root: Path, gates_root: Path) -> dict[str, str]:
    """Move the gate notebooks (a gated assignment's solutions and seeded bugs) from ``root``
    to ``gates_root``, learner folders kept; returns their path -> kind."""
    moved = {}
    for path, kind in list(kinds.items()):
        target = Path(path)
        if target.parent.name in gated() and kind in ("solution", "bug"):
            destination = gates_root / target.relative_to(root)
            destination.parent.mkdir(parents=True, exist_ok=True)
            target.rename(destination)
            del kinds[path]
            moved[str(destination)] = kind
    return moved


@dataclass
class Pass:
    """One ``--batch --jobs 2`` pass over a folder."""

    run: Run
    rows: dict[str, tuple[str, str, str]]
    checks: dict[str, list[tuple[str, str]]]
    problems: list[str]
    load: str


def grade_pass(folder: Path, kinds: dict[str, str], mode: str, out: Path) -> Pass:
    csv_out, junit = out / f"{folder.name}-{mode}.csv", out / f"{folder.name}-{mode}.xml"
    command = [sys.executable, "-m", "autograder", "--batch", str(folder), "--jobs", "2", "--csv", str(csv_out), "--junit", str(junit), "--quiet", "--out", str(out / f"{folder.name}-{mode}")]
    env = course_env(AUTOGRADER_WARM="require") if mode == "warm" else course_env()
    load = load_average()
    result = run_command([*command, *(["--cold"] if mode == "cold" else [])], env=env, memory=True, timeout=7200)
    if result.returncode != 0 or not csv_out.exists():
        raise RuntimeError(f"--batch ({mode}) exited {result.returncode}:\n{result.tail()}")
    problems = [p for p in wrong_scores(csv_out, kinds) if "(hostile)" not in p]
    return Pass(result, csv_rows(csv_out), outcomes(junit), problems, load)


def mismatches(warm: Pass, cold: Pass) -> list[str]:
    """Notebooks whose CSV row or check outcomes differ warm vs cold."""
    rows = [f"{Path(p).parent.parent.name}/{Path(p).parent.name}: warm {warm.rows.get(p)} cold {cold.rows[p]}" for p in sorted(cold.rows) if warm.rows.get(p) != cold.rows[p]]
    checks = [f"{key}: check outcomes differ" for key in sorted(cold.checks.keys() | warm.checks.keys()) if warm.checks.get(key) != cold.checks.get(key)]
    return rows + checks


def cli_vs_nbgrader(assignments: list[Assignment], repeats: int) -> dict[str, tuple[list[float], list[float], float, float]]:
    """Assignment -> (one-off CLI seconds, nbgrader autograde seconds, their scores) on its
    solution, alternating, each a fresh process."""
    from grading_latency import STUDENT, cli_grade, nbgrader_autograde, nbgrader_score

    from autograder.release import temp_course

    found: dict[str, tuple[list[float], list[float], float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="cnn-bench-cli-") as tmp:
        root = Path(tmp)
        db_url = temp_course(root, [a.id for a in assignments])
        out = root / "cli"
        out.mkdir()
        for assignment in assignments:
            target = root / "submitted" / STUDENT / assignment.id / assignment.notebook
            target.parent.mkdir(parents=True)
            shutil.copyfile(assignment.solution_path, target)
        for assignment in assignments:
            ours, theirs, score = [], [], 0.0
            for _ in range(1 if assignment.id in gated() else repeats):
                cli = cli_grade(assignment.solution_path, out)
                ours.append(cli.run.seconds)
                score = cli.score
                result = nbgrader_autograde(root, db_url, assignment)
                if result.returncode != 0:
                    raise RuntimeError(f"nbgrader autograde {assignment.id} exited {result.returncode}:\n{result.tail()}")
                theirs.append(result.seconds)
            found[assignment.id] = (ours, theirs, score, nbgrader_score(db_url, assignment))
    return found


def run(quick: bool) -> Section:
    size = 30 if quick else CLASS_SIZE
    gate_limit = int(os.environ.get("BENCH_WARM_GATES", "2" if quick else "0")) or None
    section = Section(
        "7. Warm workers",
        f"{size} mixed submissions ({', '.join(a.id for a in ASSIGNMENTS)}, in equal numbers: solutions, blank exercises and seeded-bug copies, "
        f"about a third each, plus {len(HOSTILE)} hostile learners) graded with `python -m autograder --batch DIR --jobs 2`, "
        "once with warm workers (the default) and once with `--cold`, one after the other on the same folder, in two parts: "
        f"the notebooks whose grading trains a network ({', '.join(sorted(gated()))}: solutions and seeded bugs, whose accuracy gate trains the learner's network) "
        "and all the others. Peak memory is sampled every 50 ms over the whole process tree, sandboxes included; the load average is taken at the start of each pass.",
    )
    table = Table("The class, warm vs cold (--jobs 2)", ["part", "workers", "notebooks", "wall time", "notebooks/s", "peak RSS, all processes",
                                                         "peak RSS, largest process", "scores as expected", "load at start"])
    passes: dict[tuple[str, str], Pass] = {}
    with tempfile.TemporaryDirectory(prefix="cnn-bench-warm-") as tmp:
        root, gates_root = Path(tmp) / "class", Path(tmp) / "gates"
        kinds = make_mixed_class(root, size)
        gate_kinds = split(kinds, root, gates_root)
        graded_gates = dict(sorted(gate_kinds.items())[:gate_limit]) if gate_limit else gate_kinds
        for path in set(gate_kinds) - set(graded_gates):
            Path(path).unlink()
        parts = {"without training gates": (root, kinds), "training gates": (gates_root, graded_gates)}
        for part, (folder, part_kinds) in parts.items():
            for mode in ("warm", "cold"):
                result = passes[part, mode] = grade_pass(folder, part_kinds, mode, Path(tmp))
                hostile = sum(1 for k in part_kinds.values() if k == "hostile")
                table.add(part, mode, len(part_kinds), f"{result.run.seconds:.0f} s", f"{len(part_kinds) / result.run.seconds:.2f}", f"{result.run.peak_total / MIB:.0f} MiB",
                          f"{result.run.peak_single / MIB:.0f} MiB", f"{len(part_kinds) - hostile - len(result.problems)}/{len(part_kinds) - hostile}" + (f" (+{hostile} hostile)" if hostile else ""), result.load)
                section.notes += [f"{part}, {mode}: unexpected score: {p}" for p in result.problems]
    scale = len(gate_kinds) / max(len(graded_gates), 1)
    mix = {mode: passes["without training gates", mode].run.seconds + scale * passes["training gates", mode].run.seconds for mode in ("warm", "cold")}
    estimated = " (gate part scaled from the graded sample)" if scale != 1 else ""
    for mode in ("warm", "cold"):
        table.add("the whole mix (sum of the parts" + (", gates scaled" if scale != 1 else "") + ")", mode, len(kinds) + len(gate_kinds), f"{mix[mode]:.0f} s",
                  f"{(len(kinds) + len(gate_kinds)) / mix[mode]:.2f}", "-", "-", "-", "-")
    section.tables.append(table)
    if scale != 1:
        section.notes.append(f"Only {len(graded_gates)} of the class's {len(gate_kinds)} gate notebooks were graded (BENCH_WARM_GATES); the mix's gate time is theirs scaled by {scale:.1f}: estimated, not measured.")
    no_gates = passes["without training gates", "warm"].run.seconds
    section.goals.append(Goal(f"{size} mixed notebooks on 2 cores, warm", f"< {GOAL_SECONDS:g} s", f"{mix['warm']:.0f} s{estimated} (cold: {mix['cold']:.0f} s)", mix["warm"] < GOAL_SECONDS,
                              f"{len(gate_kinds)} of the {size} notebooks train a network for their accuracy gate "
                              f"({passes['training gates', 'warm'].run.seconds / max(len(graded_gates), 1) * 2:.0f} core-seconds each here), which no warm worker shortens; "
                              f"the other {len(kinds)} take {no_gates:.0f} s warm (cold: {passes['without training gates', 'cold'].run.seconds:.0f} s)."))
    section.goals.append(Goal(f"the {len(kinds)} notebooks without a training gate, warm", f"< {GOAL_SECONDS:g} s", f"{no_gates:.0f} s", no_gates < GOAL_SECONDS,
                              "the checks run in the grading processes (one pytest session per notebook, the oracle comparisons, 05's LeNet-5 on 2,000 images), "
                              "and the hanging-cell learner holds one worker for its 60 s cell limit."))
    differing = [line for part in parts for line in mismatches(passes[part, "warm"], passes[part, "cold"])]
    total = sum(len(passes[part, "cold"].rows) for part in parts)
    section.goals.append(Goal("warm vs cold scores", "identical on every notebook", f"{len(differing)} of {total} notebooks differ", not differing, "; ".join(differing[:5])))
    section.notes += [f"warm vs cold mismatch: {line}" for line in differing]

    repeats = 2 if quick else 5
    cycles = watch_cycles(repeats)
    watch = Table(f"One --watch cycle (a warm regrade of the solution, in-process; median of {repeats} after a warm-up, min-max; "
                  "a gated assignment: one regrade, no warm-up)", ["assignment", "seconds", "load at start"])
    for assignment_id, (times, load) in cycles.items():
        watch.add(assignment_id, f"{statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f})", load)
    section.tables.append(watch)
    ungated = [a for a in cycles if a not in gated()]
    slowest = max(ungated, key=lambda a: statistics.median(cycles[a][0]))
    five = statistics.median(cycles["05-architectures"][0])
    section.goals.append(Goal("05 graded in a --watch cycle", f"< {WATCH_GOAL:g} s", f"{five:.2f} s (slowest without a gate: {slowest})", five < WATCH_GOAL,
                              "the cycle is 05's checks themselves: the learner's LeNet-5 with the torch stand-ins in float64 on 2,256 images in the sandbox "
                              "(about 0.7 G multiply-adds, one thread), the rest is fork, cells and pytest."))

    assignments = [a for a in ASSIGNMENTS if a.solution_path.exists()]
    if quick:
        assignments = assignments[:1]
    versus = cli_vs_nbgrader(assignments, 1 if quick else 3)
    cli = Table("One-off `python -m autograder NOTEBOOK` (cold) vs `nbgrader autograde` on each solution, alternating, fresh processes (median, min-max)",
                ["assignment", "ours", "nbgrader", "nbgrader / ours", "score (ours / nbgrader)"])
    ratio = {}
    for assignment_id, (ours, theirs, score, their_score) in versus.items():
        ratio[assignment_id] = ratios(theirs, ours).median
        cli.add(assignment_id, Stats(tuple(ours)).format(digits=3), Stats(tuple(theirs)).format(), f"{ratio[assignment_id]:.1f}x", f"{score:g} / {their_score:g}")
    section.tables.append(cli)
    slow = [a for a in ratio if ratio[a] < SPEEDUP_GOAL]
    section.goals.append(Goal("every notebook's CLI time vs nbgrader's", f">= {SPEEDUP_GOAL:g}x each", f"least {min(ratio, key=ratio.__getitem__)} {min(ratio.values()):.1f}x", not slow,
                              "; ".join(f"{a}: {ratio[a]:.1f}x ({SLOW_BECAUSE['gate' if a in gated() else 'torch' if not get_assignment(a).numpy_only else 'other']})" for a in slow)))
    section.notes.append("Scores: nbgrader grades the instructor's notebook, hidden checks included (one more point in each assignment); ours is a learner's local grade, "
                         "public checks only.")
    gates = {mode: passes["training gates", mode].run.seconds for mode in ("warm", "cold")}
    section.notes.append(f"The training-gate part took {gates['warm']:.0f} s warm and {gates['cold']:.0f} s cold: each of its notebooks trains for about a minute, "
                         "so the two passes differ by the load they met, not by the workers, which save only the start-up of Python, NumPy and torch.")
    section.notes.append(PROFILE)
    section.notes.append("The machine may be shared with other engineers' test runs: see the load columns; compare within one run, not across runs.")
    return section
