"""Train a reference model on MNIST and record its weights and manifest entry.

Usage::

    python -m autograder.reference.train MODEL [--device auto|cuda|cpu] [--epochs N]
        [--seed S] [--max-steps N] [--output-dir DIR] [--threads N]

Seeded end to end: ``torch.manual_seed`` fixes the initial weights and dropout, a
``torch.Generator`` fixes the batch order and the augmentation. The recipe per model is
:data:`RECIPES` (AdamW, one-cycle learning rate, random shifts of up to 2 pixels); its epochs
are the ones the committed weights were trained with, so ``make train`` reproduces them.
The test accuracy is counted on the CPU with :func:`autograder.reference.evaluate.count_correct`,
as the tests count it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tqdm import tqdm

from autograder.data import MNIST_MEAN, MNIST_STD, DataError, mnist_tensors
from autograder.machine import cpu_model
from autograder.paths import REFERENCE_DIR
from autograder.reference.evaluate import count_correct
from autograder.reference.models import MODELS
from autograder.reference.weights import sha256_file, weights_path, write_manifest_entry

# The course machines have 2 cores; on a busy shared machine 1 thread is faster (no waiting at
# OpenMP barriers for a descheduled thread).
THREADS = 2
# Normalized value of a black pixel: what shifted-in borders are filled with.
BACKGROUND = -MNIST_MEAN / MNIST_STD


@dataclass(frozen=True)
class Recipe:
    """Training hyperparameters of one model.

    Attributes:
        epochs: passes over the training images (60000, or those of ``digits``).
        batch_size: images per step.
        max_lr: peak learning rate of the one-cycle schedule.
        weight_decay: AdamW's decoupled weight decay.
        shift: largest random translation in pixels, in each direction.
        digits: train and test on the images of these digits only (label k is logit k);
            None: all ten.
    """

    epochs: int
    batch_size: int = 128
    max_lr: float = 3e-3
    weight_decay: float = 1e-4
    shift: int = 2
    digits: tuple[int, ...] | None = None


RECIPES: dict[str, Recipe] = {
    "lenet5": Recipe(epochs=12),
    # 07's feature extractor: 3 epochs on the ~30,600 images of 0-4 take about 2 minutes on 2 cores.
    "lenet5_digits04": Recipe(epochs=3, digits=(0, 1, 2, 3, 4)),
    "minivgg": Recipe(epochs=10),
}


def recipe_split(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalized images (N, 1, 28, 28) and labels (N,) of ``split`` that model ``name`` is
    trained (``"train"``) or evaluated (``"test"``) on: all of MNIST, or its recipe's digits."""
    images, labels = mnist_tensors(split)
    digits = RECIPES[name].digits
    if digits is None:
        return images, labels
    keep = torch.isin(labels, torch.tensor(digits, dtype=labels.dtype))
    return images[keep], labels[keep]


@dataclass
class TrainResult:
    """What a run produced.

    Attributes:
        weights: path of the written ``.safetensors`` file.
        manifest: path of the updated ``manifest.json``.
        entry: the manifest entry written for the model.
        losses: training loss of every step, in order.
    """

    weights: Path
    manifest: Path
    entry: dict[str, Any]
    losses: list[float] = field(default_factory=list)


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by its own random offset of up to ``shift`` pixels per axis.

    Args:
        x: normalized images (N, 1, H, W).
        shift: largest offset; 0 returns ``x`` unchanged.
        generator: CPU generator the offsets are drawn from.

    Returns:
        (N, 1, H, W), borders filled with the background (black) value.
    """
    if shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), value=BACKGROUND)
    dy, dx = torch.randint(0, 2 * shift + 1, (2, n, 1), generator=generator).to(x.device)
    rows = (dy + torch.arange(h, device=x.device))[:, :, None]
    cols = (dx + torch.arange(w, device=x.device))[:, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded[:, 0][batch, rows, cols][:, None]


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Index tensors of one shuffled epoch over ``n`` examples; the last batch may be smaller."""
    order = torch.randperm(n, generator=generator)
    yield from order.split(batch_size)


def pick_device(requested: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU.

    Raises:
        ValueError: CUDA was requested but is not available, or the name is unknown.
    """
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA device is available; use --device cpu or auto")
    if requested not in ("cuda", "cpu"):
        raise ValueError(f"unknown device {requested!r}; use auto, cuda or cpu")
    return torch.device(requested)


def describe_device(device: torch.device) -> str:
    """``"cuda: NVIDIA H100 ..."`` or ``"cpu: <model name from /proc/cpuinfo> (2 threads)"``."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    name = cpu_model() or "unknown CPU"
    threads = torch.get_num_threads()
    return f"cpu: {name} ({threads} thread{'s' if threads > 1 else ''})"


def train(
    name: str,
    *,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "auto",
    max_steps: int | None = None,
    output_dir: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train model ``name``, evaluate it on the test images (of its recipe's digits), write weights and manifest.

    Args:
        name: a key of :data:`~autograder.reference.models.MODELS`.
        epochs: overrides the recipe's epochs.
        seed: seeds initial weights, dropout, batch order and augmentation.
        device: ``"auto"``, ``"cuda"`` or ``"cpu"``.
        max_steps: stop after this many optimizer steps (the schedule is shortened to match).
        output_dir: where ``<name>.safetensors`` and ``manifest.json`` go; defaults to
            ``autograder/reference/``.
        progress: show tqdm progress bars.

    Returns:
        The paths written, the manifest entry and the per-step losses.

    Raises:
        ValueError: unknown model or device, or a non-positive epochs or max_steps.
        DataError: MNIST cannot be loaded.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    recipe = RECIPES[name]
    epochs = recipe.epochs if epochs is None else epochs
    if epochs < 1 or (max_steps is not None and max_steps < 1):
        raise ValueError(f"epochs and max_steps must be at least 1, got epochs={epochs}, max_steps={max_steps}")
    output_dir = REFERENCE_DIR if output_dir is None else Path(output_dir)
    target = pick_device(device)

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = MODELS[name]().to(target)
    x_train, y_train = (t.to(target) for t in recipe_split(name, "train"))
    steps_per_epoch = -(-len(x_train) // recipe.batch_size)
    total_steps = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.max_lr, total_steps=total_steps)

    losses: list[float] = []
    started = time.perf_counter()
    for epoch in range(epochs):
        if len(losses) >= total_steps:
            break
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        batches = batch_indices(len(x_train), recipe.batch_size, generator)
        steps_now = min(steps_per_epoch, total_steps - len(losses))
        with tqdm(total=steps_now, desc=f"{name} epoch {epoch + 1}/{epochs}", disable=not progress, file=sys.stderr) as bar:
            for index in batches:
                if len(losses) >= total_steps:
                    break
                index = index.to(target)
                x = random_shift(x_train[index], recipe.shift, generator)
                y = y_train[index]
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
                seen += len(y)
                loss_sum += losses[-1] * len(y)
                correct += int((logits.argmax(dim=1) == y).sum())
                bar.update()
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
    train_seconds = time.perf_counter() - started

    model = model.to("cpu").eval()
    x_test, y_test = recipe_split(name, "test")
    test_correct = count_correct(model, x_test, y_test)
    state = {key: value.detach().contiguous() for key, value in model.state_dict().items()}

    output_dir.mkdir(parents=True, exist_ok=True)
    path = weights_path(name, output_dir)
    save_file(state, str(path), metadata={"model": name})
    path.chmod(0o644)
    digits_note = "" if recipe.digits is None else f", digits {', '.join(map(str, recipe.digits))} only"
    entry: dict[str, Any] = {
        "model": type(model).__name__,
        "dataset": f"MNIST{digits_note}: {len(x_train)} training images, {len(x_test)} test images, normalized with mean {MNIST_MEAN} and std {MNIST_STD}",
        "epochs": epochs,
        "steps": len(losses),
        "seed": seed,
        "recipe": {**{k: v for k, v in asdict(recipe).items() if k not in ("epochs", "digits")}, "optimizer": "AdamW", "schedule": "OneCycleLR", "augmentation": f"random shifts of up to {recipe.shift} px"},
        "device": describe_device(target),
        "torch": torch.__version__,
        **({} if recipe.digits is None else {"digits": list(recipe.digits)}),
        "test_accuracy": test_correct / len(y_test),
        "test_correct": test_correct,
        "test_total": len(y_test),
        "final_train_loss": sum(losses[-50:]) / len(losses[-50:]),
        "parameter_count": sum(value.numel() for value in state.values()),
        "sha256": sha256_file(path),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "train_seconds": round(train_seconds, 1),
        "tensors": {key: list(value.shape) for key, value in state.items()},
    }
    manifest = write_manifest_entry(name, entry, output_dir)
    return TrainResult(weights=path, manifest=manifest, entry=entry, losses=losses)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m autograder.reference.train", description="Train a reference model on MNIST and record its weights and manifest entry.")
    parser.add_argument("model", choices=sorted(MODELS), help="which model to train")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"], help="auto: CUDA when available, else CPU")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's (what the committed weights used)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (for smoke tests)")
    parser.add_argument("--output-dir", type=Path, default=None, help=f"where weights and manifest.json go (default {REFERENCE_DIR})")
    parser.add_argument("--threads", type=int, default=THREADS, help=f"CPU threads for torch (default {THREADS}; 1 is faster on a busy shared machine)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; returns the exit status (2 for bad input)."""
    args = parse_args(argv)
    if args.threads < 1:
        print(f"error: --threads must be at least 1, got {args.threads}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    try:
        result = train(args.model, epochs=args.epochs, seed=args.seed, device=args.device, max_steps=args.max_steps, output_dir=args.output_dir)
    except (ValueError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    entry = result.entry
    print(f"{args.model}: test accuracy {entry['test_accuracy']:.4f} ({entry['test_correct']}/{entry['test_total']}), {entry['parameter_count']} parameters, trained {entry['train_seconds']} s on {entry['device']}")
    print(f"wrote {result.weights} and {result.manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
