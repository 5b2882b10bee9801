"""5. Reference training: what the real training runs recorded, and a short measured run.

The manifest (``autograder/reference/manifest.json``) holds each model's wall time, device and
test accuracy from its full training run (``make train``). To put a number from this run beside
them, :func:`autograder.reference.train.train` runs a few steps of the same recipe (into a
temporary folder, so the committed weights are untouched) and its training-loop time gives
images per second.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from measure import Stats
from results import Section, Table

REPEATS = 3


def run(quick: bool) -> Section:
    import torch

    from autograder.reference import MODELS, read_manifest
    from autograder.reference.train import RECIPES, train

    steps = 100
    section = Section(
        "5. Reference training",
        f"Recorded: the manifest's entry per model, written by its full training run. Measured now (not with --quick): {steps} steps ({REPEATS} runs) of "
        "`autograder.reference.train.train` with the model's recipe (batch, optimizer, augmentation), on this machine's CPU.",
    )
    manifest = read_manifest()
    recorded = Table("Recorded by the training runs (autograder/reference/manifest.json)",
                     ["model", "device", "epochs", "steps", "train time", "images/s", "test accuracy", "torch", "date"])
    for name in MODELS:
        entry = manifest.get(name)
        if entry is None:
            recorded.add(name, "(not trained yet: no manifest entry)", "", "", "", "", "", "", "")
            continue
        images = entry["steps"] * entry["recipe"]["batch_size"]
        recorded.add(name, entry["device"], entry["epochs"], entry["steps"], f"{entry['train_seconds']:.0f} s",
                     f"{images / entry['train_seconds']:,.0f}", f"{entry['test_accuracy']:.2%}", entry["torch"], entry["date"][:10])
    section.tables.append(recorded)
    if quick:
        section.notes.append("--quick: the recorded numbers only, no training steps measured.")
        return section

    measured = Table(f"Measured in this run: {steps} training steps on one thread, {REPEATS} runs", ["model", "device", "batch", "loop time", "images/s", "vs recorded", "full run at this rate (estimate)"])
    threads = torch.get_num_threads()
    # One thread: on a shared 2-core machine a second thread makes the timing swing 2-8x (a
    # descheduled thread stalls every step), as train.py's THREADS comment says.
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="cnn-bench-train-") as tmp:
            for name in MODELS:
                # the first run in a process also pays one-off set-up (oneDNN kernels, allocator); the median sets it aside
                runs = [train(name, max_steps=steps, device="cpu", output_dir=Path(tmp), progress=False) for _ in range(REPEATS)]
                seconds = Stats(tuple(run.entry["train_seconds"] for run in runs))
                batch = RECIPES[name].batch_size
                rate = steps * batch / seconds.median
                entry = manifest.get(name)
                versus = f"{rate / (entry['steps'] * batch / entry['train_seconds']):.1f}x" if entry else "-"
                full = f"{entry['steps'] * batch / rate:.0f} s" if entry else "-"
                measured.add(name, runs[0].entry["device"], batch, seconds.format(), f"{rate:,.0f}", versus, full)
    finally:
        torch.set_num_threads(threads)
    section.tables.append(measured)
    section.notes += [
        f"CUDA was {'available' if torch.cuda.is_available() else 'not available'} in this session, so every number here is "
        "from the CPU; `make train` picks CUDA when there is one (`--device auto`).",
        "Both rates are steps x batch / training-loop time of the same loop (`train`); the measured one uses the median "
        "loop time on one thread. Where the recorded rate is much lower, the full run shared this 2-core machine with other work (or ran "
        "on fewer threads: see its device), so its wall time overstates what an idle machine needs; the last column "
        "estimates that.",
    ]
    return section
