"""PyTorch reference models for MNIST, their training, and their verified weights.

Modules:
    models    ``LeNet5``, ``MiniVGG`` and the ``MODELS`` registry (imports torch)
    weights   weight files, the manifest, SHA-256 checks, ``load`` and ``load_numpy``
    evaluate  the one accuracy computation shared by training and tests
    train     ``python -m autograder.reference.train MODEL`` (``make train``)

Importing this package does not import torch: ``MODELS`` is imported on first use, and
``load_numpy`` reads the weights with ``safetensors.numpy``.
"""

from __future__ import annotations

from typing import Any

from autograder.reference.weights import (
    WeightsError,
    load,
    load_numpy,
    manifest_path,
    read_manifest,
    weights_path,
)

__all__ = ["MODELS", "WeightsError", "load", "load_numpy", "manifest_path", "read_manifest", "weights_path"]


def __getattr__(name: str) -> Any:
    if name == "MODELS":
        from autograder.reference.models import MODELS

        return MODELS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
