"""Synthetic and hostile notebooks for the sandbox, engine, CLI and hostile tests.

Notebooks are nbformat-4 JSON written by hand (the grader never imports nbformat). Hostile
variants start from the 02-padding-stride solution and replace one function's body, so each
breaks one thing and the rest of the notebook can still be graded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from autograder.assignments import get_assignment
from autograder.notebook import Notebook, parse_notebook

BASE = "02-padding-stride"

# the bodies of two solution functions, as they stand in the solution notebook
PAD2D_BODY = "    ph, pw = as_pair(padding)\n    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))"
PAD2D_AND_OTHER = "02.[ps][a]*"  # 02.pad2d.values, 02.same_padding.values, 02.same_padding.errors
OTHER_CHECK = "02.same_padding.values"  # untouched by every variant: it must still pass


def code_cell(source: str, **metadata: Any) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": metadata, "source": source, "outputs": [], "execution_count": None}


def notebook_json(cells: Iterable[str | Mapping[str, Any]], assignment: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    if assignment:
        metadata["cnn_course"] = {"assignment": assignment}
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": metadata,
        "cells": [code_cell(c) if isinstance(c, str) else dict(c) for c in cells],
    }


def synthetic(cells: Iterable[str | Mapping[str, Any]], path: Path | str = "synthetic.ipynb") -> Notebook:
    """A parsed in-memory notebook of code cells."""
    return parse_notebook(json.dumps(notebook_json(cells)), Path(path))


def write_notebook(path: Path, cells: Iterable[str | Mapping[str, Any]], assignment: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook_json(cells, assignment), indent=1), encoding="utf-8")
    return path


def solution_with(directory: Path, replacements: Mapping[str, str] = {}, extra_cells: Iterable[str] = (), assignment: str = BASE) -> Path:
    """A copy of a solution notebook at ``directory/<assignment>/<notebook>`` with text
    replaced in its code cells (each ``old`` must occur) and extra code cells appended."""
    spec = get_assignment(assignment)
    data = json.loads(spec.solution_path.read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in data["cells"] if c["cell_type"] == "code")
    for old in replacements:
        assert old in code, f"{old!r} is not in {spec.solution_path}"
    for cell in data["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            for old, new in replacements.items():
                source = source.replace(old, new)
            cell["source"] = source
    data["cells"] += [code_cell(source) for source in extra_cells]
    target = directory / spec.id / spec.notebook
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return target


def pad2d_body(body: str) -> dict[str, str]:
    """Replacements that give pad2d another body (indented four spaces)."""
    return {PAD2D_BODY: body}


def require_bwrap() -> None:
    """Skip where bubblewrap cannot run, except in CI, where that fails the test instead."""
    import os

    import pytest

    from autograder.isolation.bwrap import unavailable_reason

    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but the sandbox cannot run: {reason}")
    pytest.skip(reason)
