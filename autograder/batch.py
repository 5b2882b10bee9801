"""Grade a whole class: ``DIR/<learner>/<assignment>/*.ipynb`` into one CSV.

Each notebook runs in its own sandbox, which may read its learner's folder but no other
learner's; a broken submission becomes a row with an error and the batch goes on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from autograder.assignments import get_assignment
from autograder.engine import NotebookResult, Submission, grade_many
from autograder.paths import PACKAGE_DIR
from autograder.i18n import _


class BatchError(ValueError):
    """The batch folder is missing or holds no submissions."""


def discover(root: str | os.PathLike[str]) -> list[tuple[str, str, Submission]]:
    """(learner, assignment folder, submission) for every ``root/<learner>/<assignment>/*.ipynb``.

    Raises:
        BatchError: ``root`` is not a folder or holds no submissions.
    """
    root = Path(root)
    if not root.is_dir():
        raise BatchError(_("{root} is not a folder; --batch expects DIR/<learner>/<assignment>/*.ipynb.").format(root=root))
    real_root = root.resolve()
    # hiding the batch folder must not hide the grader's own package from the sandbox
    hide = () if PACKAGE_DIR == real_root or real_root in PACKAGE_DIR.parents else (str(real_root),)
    found = []
    for learner_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for assignment_dir in sorted(p for p in learner_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for notebook in sorted(assignment_dir.glob("*.ipynb")):
                refused = _outside(notebook, learner_dir, root)
                submission = Submission(notebook, deny_read=hide, allow_read=(str(learner_dir.resolve()),), assignment=_assignment_of(assignment_dir.name), refused=refused)
                found.append((learner_dir.name, assignment_dir.name, submission))
    if not found:
        raise BatchError(_("{root} holds no submissions; expected DIR/<learner>/<assignment>/*.ipynb.").format(root=root))
    return found


def _assignment_of(folder: str) -> str:
    """The assignment a folder's name says; an unknown name stays as it is, so grading refuses it."""
    try:
        return get_assignment(folder).id
    except ValueError:
        return folder


def _outside(notebook: Path, learner_dir: Path, root: Path) -> str | None:
    """Why ``notebook`` is refused: a symlink (anywhere below ``root``) or a file that resolves
    outside its learner's folder; ``None`` when it is the learner's own file."""
    for path in (notebook, notebook.parent, learner_dir):
        if path.is_symlink():
            return _("{path} is a symbolic link; a batch grades only files inside each learner's own folder, so submit the notebook itself.").format(path=path)
    if notebook.stat().st_nlink > 1:
        return _("{path} is a hard link to another file; submit the notebook itself.").format(path=notebook)
    if learner_dir.resolve() not in notebook.resolve().parents or root.resolve() not in learner_dir.resolve().parents:
        return _("{path} resolves outside its learner's folder; submit the notebook itself.").format(path=notebook)
    return None


def grade_batch(
    found: Sequence[tuple[str, str, Submission]],
    *,
    jobs: int = 1,
    on_done: Callable[[NotebookResult], None] | None = None,
    **options: Any,
) -> list[tuple[str, NotebookResult]]:
    """(learner, result) for every submission :func:`discover` ``found``, in folder order."""
    results = grade_many([s for _, _, s in found], jobs=jobs, on_done=on_done, **options)
    rows = []
    for (learner, assignment_folder, _path), result in zip(found, results):
        if not result.assignment:
            result.assignment = assignment_folder
        rows.append((learner, result))
    return rows
