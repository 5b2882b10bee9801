"""Trained weights and their manifest: find, verify (SHA-256), load and record.

``autograder/reference/<name>.safetensors`` holds one model's ``state_dict`` in float32;
``manifest.json`` maps each model name to how it was trained and to the file's SHA-256. Every
load checks the hash first, so a tampered or half-copied file is refused instead of silently
grading learners against wrong numbers.

Importing this module does not import torch; :func:`load` does, :func:`load_numpy` does not.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autograder.i18n import _
from autograder.errors import CourseSetupError
from autograder.paths import REFERENCE_DIR

if TYPE_CHECKING:
    from torch import nn

MANIFEST_NAME = "manifest.json"


class WeightsError(CourseSetupError):
    """Reference weights are missing, unknown or do not match the manifest (one-line message)."""


def weights_path(name: str, directory: Path | None = None) -> Path:
    """The weights file of model ``name``: ``<directory>/<name>.safetensors``.

    Args:
        name: a model name, e.g. ``"lenet5"``.
        directory: defaults to ``autograder/reference/``; tests point it at a copy.
    """
    return (REFERENCE_DIR if directory is None else Path(directory)) / f"{name}.safetensors"


def manifest_path(directory: Path | None = None) -> Path:
    """``<directory>/manifest.json`` (``autograder/reference/`` by default)."""
    return (REFERENCE_DIR if directory is None else Path(directory)) / MANIFEST_NAME


def read_manifest(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Model name -> manifest entry (training settings, accuracy, sha256, tensor shapes).

    Returns an empty dict when there is no manifest yet.

    Raises:
        WeightsError: the manifest is not valid JSON.
    """
    path = manifest_path(directory)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise WeightsError(_("{path} is not valid JSON ({problem} at line {line}); restore it with git or rerun `make train`").format(path=path, problem=error.msg, line=error.lineno)) from error


def write_manifest_entry(name: str, entry: dict[str, Any], directory: Path | None = None) -> Path:
    """Set the manifest entry of ``name``, keeping the others; writes atomically.

    Returns:
        The manifest's path.
    """
    path = manifest_path(directory)
    manifest = read_manifest(directory)
    manifest[name] = entry
    manifest = dict(sorted(manifest.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False) as handle:
        handle.write(json.dumps(manifest, indent=2) + "\n")
    os.chmod(handle.name, 0o644)  # temp files are created private; the manifest is not
    os.replace(handle.name, path)
    return path


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_path(name: str, directory: Path | None = None) -> Path:
    """The weights file of ``name`` after checking its SHA-256 against the manifest.

    Raises:
        WeightsError: the model has no manifest entry, the file is missing, or its hash differs.
    """
    manifest = read_manifest(directory)
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none"
        raise WeightsError(_("no reference weights for model {name} in {manifest} (known: {known}); run `python -m autograder.reference.train {name}`").format(name=name, manifest=manifest_path(directory), known=known))
    path = weights_path(name, directory)
    if not path.exists():
        raise WeightsError(_("{path} is missing; restore it with git or run `python -m autograder.reference.train {name}`").format(path=path, name=name))
    expected = manifest[name]["sha256"]
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(_("{path} has SHA-256 {actual}... but the manifest expects {expected}...; the file is corrupt or modified: restore it with git or retrain").format(path=path, actual=f"{actual[:12]}", expected=f"{expected[:12]}"))
    return path


def load(name: str, directory: Path | None = None) -> "nn.Module":
    """The trained reference model ``name`` on the CPU, in eval mode.

    Args:
        name: a key of :data:`autograder.reference.models.MODELS`.
        directory: where the weights and manifest live; defaults to ``autograder/reference/``.

    Raises:
        ValueError: unknown model name.
        WeightsError: as :func:`verified_path`.
    """
    from safetensors.torch import load_file

    from autograder.reference.models import MODELS

    if name not in MODELS:
        raise ValueError(_("unknown model {name}; choose one of {models}").format(name=repr(name), models=', '.join(MODELS)))
    model = MODELS[name]()
    model.load_state_dict(load_file(verified_path(name, directory), device="cpu"))
    return model.eval()


def load_numpy(name: str, directory: Path | None = None) -> dict[str, np.ndarray]:
    """The trained weights of ``name`` as float64 NumPy arrays, without importing torch.

    Keys and shapes are the ``state_dict``'s, documented on the model classes in
    :mod:`autograder.reference.models` (e.g. ``"conv1.weight"`` (6, 1, 5, 5)).

    Raises:
        WeightsError: as :func:`verified_path`.
    """
    from safetensors.numpy import load_file

    tensors = load_file(str(verified_path(name, directory)))
    return {key: value.astype(np.float64) for key, value in tensors.items()}
