"""8. Training gates: cold command-line grading of the assignments whose grader trains the
learner's network (06-training in NumPy, 07-pytorch in PyTorch).

Each solution is graded ``python -m autograder NOTEBOOK`` in a fresh process, three times
(once with ``--quick``), alternating between the notebooks; the load average before each run is
recorded beside it, because the gates train on one CPU thread and a busy machine stretches them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from autograder.assignments import get_assignment

from grading_latency import TRAINING_GOAL_S, CliResult, cli_grade
from measure import Stats, load_average
from results import Goal, Section, Table

GATED = ("06-training", "07-pytorch")


def run(quick: bool) -> Section:
    repeats = 1 if quick else 3
    section = Section(
        "8. Training gates",
        f"Wall time of `python -m autograder SOLUTION` (cold: a fresh process each) for the notebooks whose grader trains "
        f"the learner's network, {repeats} run(s) each, alternating; the load average (1 min) before each run beside it.",
    )
    results: dict[str, list[tuple[CliResult, str]]] = {a: [] for a in GATED}
    with tempfile.TemporaryDirectory(prefix="cnn-bench-gates-") as tmp:
        for _ in range(repeats):
            for assignment_id in GATED:
                load = load_average()
                results[assignment_id].append((cli_grade(get_assignment(assignment_id).solution_path, Path(tmp)), load))
    table = Table("Seconds per cold grading of the solution", ["notebook", "runs (load before each)", "median", "score", "slowest checks (last run)"])
    for assignment_id, runs in results.items():
        seconds = Stats(tuple(result.run.seconds for result, _ in runs))
        table.add(assignment_id, ", ".join(f"{result.run.seconds:.0f} s ({load.split('/')[0].strip()})" for result, load in runs),
                  seconds.format(digits=3), f"{runs[-1][0].score:g}", runs[-1][0].slowest(3))
        section.goals.append(Goal(f"cold CLI grading of {assignment_id}", f"< {TRAINING_GOAL_S:g} s", seconds.format(digits=3), seconds.median < TRAINING_GOAL_S,
                                  "the gate trains on one CPU thread in the sandbox; on a shared machine under load its wall time grows with the load "
                                  "(the runs' loads are in the table); idle, the training itself is about 30 s of CPU for each."))
    section.tables.append(table)
    section.notes.append("06's gate: `train` on 6,000 images for 5 epochs with the grader's stand-in layers; 07's gate: `fit_mnist` on "
                         "60,000 images (2 epochs in the solution), plus 07's transfer check (three small LeNet-5 trainings on 250 images).")
    return section
