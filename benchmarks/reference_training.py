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

from results import Section, Table


def run(quick: bool) -> Section:
    import torch

    from autograder.reference import MODELS, read_manifest
    from autograder.reference.train import RECIPES, train

    steps = 100
    section = Section(
        "5. Reference training",
        f"Recorded: the manifest's entry per model, written by its full training run. Measured now (not with --quick): {steps} steps of "
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

    measured = Table(f"Measured in this run: {steps} training steps", ["model", "device", "batch", "loop time", "images/s"])
    with tempfile.TemporaryDirectory(prefix="cnn-bench-train-") as tmp:
        for name in MODELS:
            result = train(name, max_steps=steps, device="cpu", output_dir=Path(tmp), progress=False)
            seconds = result.entry["train_seconds"]
            batch = RECIPES[name].batch_size
            measured.add(name, result.entry["device"], batch, f"{seconds:.1f} s", f"{steps * batch / seconds:,.0f}")
    section.tables.append(measured)
    section.notes.append(
        f"CUDA was {'available' if torch.cuda.is_available() else 'not available'} in this session, so every number here is "
        "from the CPU; `make train` picks CUDA when there is one (`--device auto`)."
    )
    section.notes.append("The recorded images/s is steps x batch / train time, over the whole run; the measured one includes "
                         "the first steps' warm-up, so it reads a little low.")
    return section
