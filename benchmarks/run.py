"""Run the course's benchmarks and write ``benchmarks/RESULTS.md`` (``make bench``).

    python benchmarks/run.py [--quick] [--only NAME ...] [--output FILE]

Benchmarks, in order: ``grading`` (CLI vs nbgrader latency), ``batch`` (a class through
``--batch``), ``layers`` (NumPy layers vs PyTorch), ``book`` (jupyter-book build), ``training``
(reference models), ``sandbox`` (bubblewrap vs the previous guards), ``warm`` (warm workers, a class of 500),
``gates`` (cold grading of 06 and 07, whose graders train). A full run takes about two hours (``warm``
trains every gate notebook of its class twice; ``BENCH_WARM_GATES=N`` grades N of them) and writes
RESULTS.md; ``--quick`` (``make bench QUICK=1``) takes a few minutes and only prints, unless ``--output`` is given. Not part of ``make
test``: timings are measurements, never assertions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Sequence

from rich.console import Console

import batch_grading
import book_build
import grading_latency
import layer_speed
import reference_training
import sandbox_overhead
import training_gates
import warm_workers
from measure import SHARED_DATA, load_average
from results import Section, machine, markdown, print_section

BENCHMARKS: dict[str, tuple[str, Callable[[bool], Section]]] = {
    "grading": ("1. Grading latency", grading_latency.run),
    "batch": ("2. Batch grading", batch_grading.run),
    "layers": ("3. Layer speed", layer_speed.run),
    "book": ("4. Book build", book_build.run),
    "training": ("5. Reference training", reference_training.run),
    "sandbox": ("6. Sandbox overhead", sandbox_overhead.run),
    "warm": ("7. Warm workers", warm_workers.run),
    "gates": ("8. Training gates", training_gates.run),
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and submissions, no book build; prints only (a few minutes)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), metavar="NAME", help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--output", type=Path, help="where to write the Markdown results (default: benchmarks/RESULTS.md after a full run of all benchmarks; nothing after --quick or --only)")
    args = parser.parse_args(argv)
    output = args.output or (None if args.quick or args.only else RESULTS)
    if not os.environ.get("CNN_COURSE_DATA") and (SHARED_DATA / "mnist").is_dir():
        os.environ["CNN_COURSE_DATA"] = str(SHARED_DATA)  # as the Makefile does

    console = Console(width=None if sys.stdout.isatty() else 160)
    info = machine()
    console.print(f"[bold]Benchmarks[/] ({'quick' if args.quick else 'full'}) on {info['CPU']}, {info['cores']}; load {info['load average at start (1/5/15 min)']}")
    if args.quick:
        console.print("[yellow]--quick:[/] 1 run per notebook and nbgrader on one notebook only, 5 batch submissions, "
                      "smaller VGG layer inputs and 1,000 LeNet images, no book build, no training steps; RESULTS.md is not written.")
    started = time.perf_counter()
    sections: list[Section] = []
    failed = False
    for name in args.only or BENCHMARKS:
        title, benchmark = BENCHMARKS[name]
        load = load_average()
        console.print(f"[dim]{title}: running (load {load})...[/]")
        begun = time.perf_counter()
        try:
            section = benchmark(args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not lose the others' results
            failed = True
            section = Section(title, skipped=f"failed: {type(exc).__name__}: {exc}")
            console.print(traceback.format_exc(), style="red", markup=False, highlight=False)
        section.seconds, section.load = time.perf_counter() - begun, load
        sections.append(section)
        print_section(console, section)
    info["load average at end (1/5/15 min)"] = load_average()
    info["benchmark wall time"] = f"{time.perf_counter() - started:.0f} s"
    console.print(f"[bold]done[/] in {info['benchmark wall time']} (load now {info['load average at end (1/5/15 min)']})")
    if output:
        command = "make bench" + (" QUICK=1" if args.quick else "")
        output.write_text(markdown(sections, info, command), encoding="utf-8")
        console.print(f"wrote {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
