"""6. Sandbox overhead: the bubblewrap sandbox against the previous guards, side by side.

Every solution and blank exercise notebook is graded by ``python -m autograder`` (a cold process)
alternately with ``AUTOGRADER_SANDBOX=guards`` (the audit hook and Landlock, as before bubblewrap)
and under bubblewrap, several times each; then a folder of all ten notebooks is graded with
``--jobs 2`` both ways for throughput. Scores must agree, so a fast but wrong sandbox cannot pass.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from autograder.assignments import ASSIGNMENTS

from measure import Stats, course_env, ratios, run_command
from results import Goal, Section, Table

GOAL_RATIO = 1.15
MODES = {"guards": {"AUTOGRADER_SANDBOX": "guards"}, "bwrap": {}}
_SCORE = re.compile(r"(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?) points")


def _grade(paths: list[str], mode: str, jobs: int = 1) -> tuple[float, str]:
    run = run_command([sys.executable, "-m", "autograder", *paths, "-q", "--jobs", str(jobs)], env=course_env(**MODES[mode]))
    if run.returncode != 0:
        raise RuntimeError(f"grading failed ({mode}): {run.tail()}")
    return run.seconds, " ".join(m.group(1) for m in _SCORE.finditer(run.output))


def run(quick: bool) -> Section:
    repeats = 1 if quick else 5
    notebooks = {f"{a.id} {kind}": str(path) for a in ASSIGNMENTS for kind, path in (("solution", a.solution_path), ("blank", a.exercise_path))}
    table = Table("Cold `python -m autograder NOTEBOOK -q`, alternating the two sandboxes", ["notebook", "guards (before)", "bubblewrap", "ratio (median of pairs)"])
    worst = 0.0
    for name, path in notebooks.items():
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        scores = {}
        for _ in range(repeats):
            for mode in MODES:
                seconds, scores[mode] = _grade([path], mode)
                times[mode].append(seconds)
        if scores["guards"] != scores["bwrap"]:
            raise RuntimeError(f"{name}: the sandboxes disagree ({scores})")
        ratio = ratios(times["bwrap"], times["guards"])
        worst = max(worst, ratio.median)
        table.add(name, Stats(tuple(times["guards"])).format(), Stats(tuple(times["bwrap"])).format(), ratio.format("x"))
    folder = [str(Path(p)) for p in notebooks.values()]
    batch = Table("All ten notebooks in one run, `--jobs 2`", ["sandbox", "seconds", "notebooks per minute"])
    batch_times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(max(1, repeats // 2)):
        for mode in MODES:
            batch_times[mode].append(_grade(folder, mode, jobs=2)[0])
    for mode in MODES:
        median = Stats(tuple(batch_times[mode])).median
        batch.add(mode, f"{median:.2f}", f"{60 * len(folder) / median:.0f}")
    batch_ratio = Stats(tuple(batch_times["bwrap"])).median / Stats(tuple(batch_times["guards"])).median
    return Section(
        "6. Sandbox overhead",
        summary=__doc__.split("\n\n")[1].replace("\n", " "),
        tables=[table, batch],
        goals=[
            Goal("bubblewrap vs guards, per notebook (median of pairs)", f"<= {GOAL_RATIO:g}x", f"worst {worst:.2f}x", worst <= GOAL_RATIO,
                 "" if worst <= GOAL_RATIO else "measured on a shared, busy machine; see the pairs above"),
            Goal("bubblewrap vs guards, throughput of ten notebooks at --jobs 2", f"<= {GOAL_RATIO:g}x the time", f"{batch_ratio:.2f}x", batch_ratio <= GOAL_RATIO,
                 "" if batch_ratio <= GOAL_RATIO else "measured on a shared, busy machine"),
        ],
        notes=[f"{repeats} pairs per notebook, alternating guards and bubblewrap so both see the same load."],
    )
