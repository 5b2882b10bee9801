"""Test accuracy, computed one way only, so the manifest and the tests count the same."""

from __future__ import annotations

import torch
from torch import nn

EVAL_BATCH_SIZE = 1000


def count_correct(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE) -> int:
    """How many images the model classifies correctly, on the CPU in float32 and eval mode.

    Fixed batches on the CPU make the count reproducible: the training run records it in the
    manifest and the tests demand the very same number from the committed weights.

    Args:
        model: maps (N, 1, 28, 28) to logits (N, 10); moved to the CPU and put in eval mode.
        images: float32 normalized images (N, 1, 28, 28).
        labels: int64 labels (N,).
        batch_size: images per forward pass.

    Returns:
        The number of rows whose arg-max logit equals the label.
    """
    model = model.to("cpu").eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            logits = model(images[start : start + batch_size].to("cpu", torch.float32))
            correct += int((logits.argmax(dim=1) == labels[start : start + batch_size].to("cpu")).sum())
    return correct
