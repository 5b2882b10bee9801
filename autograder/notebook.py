"""Read course notebooks and pull out the learner's code.

A notebook is JSON (nbformat 4); reading it directly costs milliseconds, so the grader never
imports nbformat. Cell roles follow nbgrader's metadata:

* test cells (``nbgrader.grade`` true, ``nbgrader.solution`` false) are the locked
  autograder cells; the command-line grader skips them and runs the registry's checks instead;
* cells tagged ``selfcheck`` are the learner's quick self-checks; skipped when grading;
* every other code cell (setup imports, solution cells, helpers) is learner code.
"""

from __future__ import annotations

import json
import linecache
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import CodeType
from typing import Any, Iterable, Iterator, Mapping

from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.i18n import _
from autograder.magics import ipython_to_python, provide_get_ipython

NOTEBOOK_DIR_ENV_VAR = "AUTOGRADER_NOTEBOOK_DIR"
SELFCHECK_TAG = "selfcheck"


class NotebookError(ValueError):
    """A file is not a usable course notebook. The message is one line a person can act on."""


@dataclass(frozen=True)
class Cell:
    """One notebook cell.

    Attributes:
        index: position in the notebook.
        cell_type: ``"code"``, ``"markdown"`` or ``"raw"``.
        source: the cell's text.
        metadata: the cell's metadata dict.
        label: where a learner finds the cell, e.g. ``"code cell 7 of 23"`` (code cells count
            from 1 in the order Jupyter shows them); empty when unknown.
    """

    index: int
    cell_type: str
    source: str
    metadata: Mapping[str, Any]
    label: str = ""

    @property
    def nbgrader(self) -> Mapping[str, Any]:
        return self.metadata.get("nbgrader", {}) or {}

    @property
    def is_test(self) -> bool:
        return bool(self.nbgrader.get("grade")) and not self.nbgrader.get("solution")

    @property
    def is_selfcheck(self) -> bool:
        return SELFCHECK_TAG in (self.metadata.get("tags") or [])


@dataclass(frozen=True)
class Notebook:
    """A parsed course notebook."""

    path: Path
    cells: tuple[Cell, ...]
    metadata: Mapping[str, Any]

    def learner_code(self) -> list[Cell]:
        """Code cells that hold the learner's code, in order (no test or self-check cells)."""
        return [c for c in self.cells if c.cell_type == "code" and not c.is_test and not c.is_selfcheck]

    def code_cell_labels(self) -> dict[int, str]:
        """Cell index -> ``"code cell k of m"`` for every code cell."""
        return {c.index: c.label for c in self.cells if c.cell_type == "code"}

    def test_cells(self) -> list[Cell]:
        """The locked autograder test cells."""
        return [c for c in self.cells if c.cell_type == "code" and c.is_test]


def _source_text(source: Any, path: Path, index: int) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    raise NotebookError(_("{path}: cell {index} has a malformed 'source'; re-save the notebook in Jupyter.").format(path=path, index=index))


def parse_notebook(text: str, path: Path) -> Notebook:
    """Parse notebook JSON text, checking the structure the grader relies on.

    Raises:
        NotebookError: not JSON, not nbformat 4, or malformed cells.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(_("{path} is not a notebook (invalid JSON at line {line}); open it in Jupyter and save it again.").format(path=path, line=exc.lineno)) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError(_("{path} is not a Jupyter notebook (no 'cells' list).").format(path=path))
    if data.get("nbformat") != 4:
        raise NotebookError(_("{path} has nbformat {version}; save it with Jupyter 4 or later (nbformat 4).").format(path=path, version=repr(data.get("nbformat"))))
    cells = []
    code_total = sum(1 for raw in data["cells"] if isinstance(raw, dict) and raw.get("cell_type") == "code")
    for index, raw in enumerate(data["cells"]):
        if not isinstance(raw, dict) or raw.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotebookError(_("{path}: cell {index} is malformed; re-save the notebook in Jupyter.").format(path=path, index=index))
        metadata = raw.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise NotebookError(_("{path}: cell {index} has malformed metadata; re-save the notebook in Jupyter.").format(path=path, index=index))
        label = f"code cell {sum(1 for c in cells if c.cell_type == 'code') + 1} of {code_total}" if raw["cell_type"] == "code" else ""
        cells.append(Cell(index, raw["cell_type"], _source_text(raw.get("source", ""), path, index), metadata, label))
    metadata = data.get("metadata") or {}
    return Notebook(path=path, cells=tuple(cells), metadata=metadata if isinstance(metadata, dict) else {})


def solution_with_replacements(assignment: Assignment, replacements: Mapping[str, str]) -> str:
    """The solution notebook's JSON with text replacements applied to its code cells, e.g. to
    seed a classic bug for tests and benchmarks (the file itself is never changed).

    Raises:
        NotebookError: some ``old`` text occurs in no code cell, so the bug would silently
            vanish after a change to the solution.
    """
    path = assignment.solution_path
    data = json.loads(path.read_text(encoding="utf-8"))
    code = [cell for cell in data["cells"] if cell["cell_type"] == "code"]
    sources = [_source_text(cell.get("source", ""), path, i) for i, cell in enumerate(code)]
    for old in replacements:
        if not any(old in source for source in sources):
            raise NotebookError(_("replacement text {old} is in no code cell of {path}; update it to the current solution.").format(old=repr(old), path=path))
    for cell, source in zip(code, sources):
        for old, new in replacements.items():
            source = source.replace(old, new)
        cell["source"] = source
    return json.dumps(data, indent=1)


def read_notebook(path: str | os.PathLike[str]) -> Notebook:
    """Read and parse a notebook file (never modifies it).

    Raises:
        NotebookError: missing, unreadable, or not a valid notebook.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookError(_("{path} does not exist; check the path.").format(path=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NotebookError(_("{path} cannot be read ({type}); is it a notebook file?").format(path=path, type=exc.__class__.__name__)) from None
    return parse_notebook(text, path)


def detect_assignment(notebook: Notebook) -> Assignment:
    """Which assignment a notebook belongs to: its ``cnn_course.assignment`` metadata, else
    its file name.

    Raises:
        NotebookError: the notebook belongs to no course assignment.
    """
    course = notebook.metadata.get("cnn_course")
    if isinstance(course, dict) and isinstance(course.get("assignment"), str):
        try:
            return get_assignment(course["assignment"])
        except ValueError:
            pass
    for assignment in ASSIGNMENTS:
        if notebook.path.name == assignment.notebook:
            return assignment
    names = ", ".join(a.notebook for a in ASSIGNMENTS)
    raise NotebookError(_("{path} is not one of the course's assignments ({names}); grade the notebook you downloaded from exercises/.").format(path=notebook.path, names=names))


def _compile_cell(source: str, name: str, namespace: dict[str, Any]) -> CodeType:
    """Compile a cell; one with IPython syntax (``%magic``, ``!command``) is first rewritten as
    Jupyter would run it (:mod:`autograder.magics`). A real syntax error is reported as written."""
    try:
        return compile(source, name, "exec")
    except SyntaxError as error:
        python = ipython_to_python(source)
        if python == source:
            raise
        try:
            code = compile(python, name, "exec")
        except SyntaxError:
            raise error from None
        provide_get_ipython(namespace)
        return code


CELL_FILENAME = re.compile(r"^<(?P<notebook>.+), (?P<label>code cell \d+ of \d+|cell \d+)>$")
SOLUTION_PREFIX = "course solution "


def cell_filename(notebook: str, cell: Cell) -> str:
    """The name a cell's code is compiled under, e.g. ``<convolution.ipynb, code cell 7 of 23>``."""
    return f"<{notebook}, {cell.label or f'cell {cell.index}'}>"


def translated_cell_label(label: str) -> str:
    """A cell's label (``"code cell 7 of 23"``, ``"cell 9"``: the compiled names keep them in
    English) in the current language."""
    match = re.fullmatch(r"code cell (\d+) of (\d+)", label)
    if match:
        return _("code cell {number} of {count}").format(number=match[1], count=match[2])
    match = re.fullmatch(r"cell (\d+)", label)
    return _("cell {number}").format(number=match[1]) if match else label


def learner_cell_label(filename: str) -> str | None:
    """``"code cell 7 of 23"`` for a learner cell's compiled name, ``None`` for anything else
    (library code, the course's solutions)."""
    match = CELL_FILENAME.match(filename)
    if match is None or match["notebook"].startswith(SOLUTION_PREFIX):
        return None
    return match["label"]


def execute_cells(cells: Iterable[Cell], namespace: dict[str, Any], filename: str) -> list[str]:
    """Execute code cells one by one into ``namespace``; an error in one cell is recorded and
    the next cell still runs, as in nbgrader.

    Returns:
        One line per cell that raised, e.g. ``"cell 7: NameError: name 'x' is not defined"``.
    """
    errors = []
    for cell in cells:
        name = cell_filename(filename, cell)
        # lets tracebacks and learner.describe_exception quote the line, as Jupyter does; the
        # name differs between notebooks, so the course's solutions never replace a learner's cell
        linecache.cache[name] = (len(cell.source), None, cell.source.splitlines(True), name)
        try:
            code = _compile_cell(cell.source, name, namespace)
            exec(code, namespace)  # noqa: S102 - learner code runs where the caller decided
        except Exception as exc:  # noqa: BLE001 - report and continue, like nbgrader
            errors.append(f"cell {cell.index}: {type(exc).__name__}: {exc}")
    return errors


def load_functions(path: str | os.PathLike[str], names: Iterable[str] | None = None, *, filename: str | None = None) -> dict[str, Any]:
    """Run a notebook's learner code in a fresh namespace and return the named functions.

    Args:
        path: the notebook.
        names: functions to return; all public callables defined by the notebook when ``None``.
        filename: the name its cells are compiled under (default: the path as given).

    Raises:
        NotebookError: the notebook cannot be read or does not define a requested name.
    """
    notebook = read_notebook(path)
    namespace: dict[str, Any] = {"__name__": f"notebook_{Path(path).stem}"}
    errors = execute_cells(notebook.learner_code(), namespace, filename or str(path))
    if names is None:
        return {k: v for k, v in namespace.items() if callable(v) and not k.startswith("_") and getattr(v, "__module__", None) == namespace["__name__"]}
    missing = [n for n in names if not callable(namespace.get(n))]
    if missing:
        detail = " " + _("(first error: {error})").format(error=errors[0]) if errors else ""
        raise NotebookError(_("{path} does not define {names}{detail}; run that notebook top to bottom and fix its errors.").format(path=path, names=", ".join(missing), detail=detail))
    return {n: namespace[n] for n in names}


@lru_cache(maxsize=None)
def _solution_namespace(assignment_id: str) -> dict[str, Any]:
    path = get_assignment(assignment_id).solution_path
    # A solution that imports from its siblings (05 does, with import_functions) finds them
    # beside its own folder, wherever the caller's working directory is.
    with notebook_dir_set(path.parent):
        return load_functions(path, filename=SOLUTION_PREFIX + str(path))


@contextmanager
def notebook_dir_set(folder: Path | None) -> Iterator[None]:
    """``$AUTOGRADER_NOTEBOOK_DIR`` is ``folder`` (unset when ``None``) inside the block and as
    before after it: where a notebook run outside its own folder finds its siblings."""
    previous = os.environ.get(NOTEBOOK_DIR_ENV_VAR)
    if folder is None:
        os.environ.pop(NOTEBOOK_DIR_ENV_VAR, None)
    else:
        os.environ[NOTEBOOK_DIR_ENV_VAR] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(NOTEBOOK_DIR_ENV_VAR, None)
        else:
            os.environ[NOTEBOOK_DIR_ENV_VAR] = previous


def solution_functions(assignment_id: str, names: Iterable[str] | None = None) -> dict[str, Any]:
    """The course's reference implementations from ``solutions/``, e.g.
    ``solution_functions("02-padding-stride", ["conv2d_forward"])``. The book uses these, so
    no layer code is written twice."""
    functions = _solution_namespace(get_assignment(assignment_id).id)
    if names is None:
        return dict(functions)
    missing = [n for n in names if n not in functions]
    if missing:
        raise NotebookError(_("the solution of {assignment} does not define {names}.").format(assignment=assignment_id, names=", ".join(missing)))
    return {n: functions[n] for n in names}


def notebook_dir() -> Path:
    """The folder of the notebook being run: ``$AUTOGRADER_NOTEBOOK_DIR`` (set by the sandbox,
    whose working directory is a temporary one), else the working directory (Jupyter runs a
    notebook in its own folder)."""
    return Path(os.environ.get(NOTEBOOK_DIR_ENV_VAR) or os.getcwd())


def import_functions(sources: Mapping[str, str]) -> dict[str, Any]:
    """Import functions from the learner's own notebooks of earlier assignments, found beside
    this notebook's folder (``../02-padding-stride/padding_stride.ipynb`` and so on).

    Args:
        sources: function name -> assignment id, e.g. ``{"conv2d_forward": "02-padding-stride"}``.

    Raises:
        NotebookError: a notebook is missing or does not define the function.
    """
    functions: dict[str, Any] = {}
    by_assignment: dict[str, list[str]] = {}
    for name, assignment_id in sources.items():
        by_assignment.setdefault(get_assignment(assignment_id).id, []).append(name)
    for assignment_id, names in by_assignment.items():
        assignment = get_assignment(assignment_id)
        path = notebook_dir().parent / assignment.id / assignment.notebook
        if not path.exists():
            raise NotebookError(_("cannot find your {assignment} notebook at {path}; keep the assignment folders side by side.").format(assignment=assignment.id, path=path))
        functions.update(load_functions(path, names))
    return functions
