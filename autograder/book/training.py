"""Helpers for the chapter "Training a CNN" (book/training.md): data splits, the small CNN of
assignment 06 in PyTorch, augmentation by shifting, and the curves and tables the page shows."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from autograder import i18n
from autograder.data import load_mnist, normalize


def mnist_tensors(split: str, count: int | None = None, digits: Sequence[int] | None = None, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalized MNIST images (N, 1, 28, 28) float32 and labels (N,) int64: the images of
    ``split`` from ``offset`` on, only ``digits`` if given, the first ``count`` of them."""
    images, labels = load_mnist(split)
    images, labels = images[offset:], labels[offset:]
    if digits is not None:
        keep = np.isin(labels, digits)
        images, labels = images[keep], labels[keep]
    if count is not None:
        images, labels = images[:count], labels[:count]
    return torch.from_numpy(normalize(images)), torch.from_numpy(labels.astype(np.int64))


def small_cnn(classes: int = 10, dropout: float = 0.0, seed: int = 0) -> nn.Sequential:
    """Assignment 06's network: conv(8, 3x3)-ReLU-pool, conv(16, 3x3)-ReLU-pool, fc 64-ReLU,
    dropout, fc ``classes``; initialised from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Dropout(dropout), nn.Linear(64, classes),
    )


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image rolled by its own random (dy, dx) in [-max_shift, max_shift] (the digit's
    margin is background, so rolling moves the digit without cutting it)."""
    shifts = torch.randint(-max_shift, max_shift + 1, (len(x), 2), generator=generator)
    return torch.stack([torch.roll(image, (int(dy), int(dx)), dims=(1, 2)) for image, (dy, dx) in zip(x, shifts)])


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Every image moved by (dy, dx) pixels, the background filling in."""
    return torch.roll(x, (dy, dx), dims=(2, 3))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` in evaluation mode."""
    model.eval()
    logits = model(x)
    return float(nn.functional.cross_entropy(logits, y)), float((logits.argmax(dim=1) == y).float().mean())


def plot_curves(ax_loss: Any, ax_accuracy: Any, history: Mapping[str, Sequence[float]], label: str = "", color: str = "C0") -> None:
    """Train (dashed) and validation (solid) loss and accuracy per epoch."""
    epochs = range(1, len(history["train_loss"]) + 1)
    ax_loss.plot(epochs, history["train_loss"], "--", color=color, label=i18n.label("{run} train").format(run=label).strip())
    ax_loss.plot(epochs, history["val_loss"], "-", color=color, label=i18n.label("{run} validation").format(run=label).strip())
    ax_accuracy.plot(epochs, history["train_accuracy"], "--", color=color)
    ax_accuracy.plot(epochs, history["val_accuracy"], "-", color=color)
    ax_loss.set(xlabel=i18n.label("epoch"), ylabel=i18n.label("cross-entropy loss"))
    ax_accuracy.set(xlabel=i18n.label("epoch"), ylabel=i18n.label("accuracy"))
    for ax in (ax_loss, ax_accuracy):
        ax.grid(alpha=0.3)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table; numbers right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def loop_steps() -> tuple[tuple[str, str], ...]:
    """The boxes of :func:`training_loop_schematic`: (text, colour), in the current language."""
    return (
        (i18n.label("shuffle the training set\n(seeded generator)"), "0.85"),
        (i18n.label("take the next mini-batch\n(x, y) of B images"), "#c6dbef"),
        (i18n.label("forward: logits\n= model(x)"), "#c6dbef"),
        (i18n.label("loss = cross-entropy\n(logits, y)"), "#fdd0a2"),
        (i18n.label("backward: a gradient\nfor every parameter"), "#fdd0a2"),
        (i18n.label("update: p -= lr · v\n(momentum, weight decay)"), "#c7e9c0"),
    )


def training_loop_schematic() -> Any:
    """The training loop as a diagram: one epoch's shuffle, then the cycle batch -> forward ->
    loss -> backward -> update, repeated until the epoch's batches run out, and a validation pass
    that only measures. Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.4, 3.4))
    ax.set(xlim=(-0.2, 10.6), ylim=(-0.4, 3.6))
    ax.axis("off")
    # shuffle at the left, the five steps of one iteration on a ring, validation at the right
    places = [(0.9, 2.6), (3.4, 2.6), (6.2, 2.6), (6.2, 0.6), (3.4, 0.6), (0.9, 0.6)]
    for (text, colour), (x, y) in zip(loop_steps(), places):
        ax.text(x, y, text, ha="center", va="center", fontsize=9, bbox={"boxstyle": "round,pad=0.4", "facecolor": colour, "edgecolor": "0.3"})
    arrows = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    for a, b in arrows:
        (x0, y0), (x1, y1) = places[a], places[b]
        ax.annotate("", xy=(x1 - 0.95 * np.sign(x1 - x0), y1 + 0.45 * np.sign(y0 - y1)), xytext=(x0 + 0.95 * np.sign(x1 - x0), y0 - 0.45 * np.sign(y0 - y1)),
                    arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 1.4})
    ax.annotate("", xy=(3.0, 2.15), xytext=(1.6, 0.95), arrowprops={"arrowstyle": "->", "color": "C3", "lw": 1.4, "connectionstyle": "arc3,rad=-0.3"})
    ax.text(1.45, 1.6, i18n.label("next batch\nuntil the epoch ends"), color="C3", fontsize=8, ha="center", va="center")
    ax.text(9.3, 1.6, i18n.label("after each epoch:\nloss and accuracy on the\nvalidation set (no update,\ndropout off)"), ha="center", va="center", fontsize=9,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "C0", "linestyle": "--"})
    ax.annotate("", xy=(8.0, 1.6), xytext=(7.35, 1.6), arrowprops={"arrowstyle": "->", "color": "C0", "lw": 1.2, "linestyle": "--"})
    fig.tight_layout()
    return fig
