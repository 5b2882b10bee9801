"""The assignments: their ids, notebook names and rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.paths import EXERCISES_DIR, SOLUTIONS_DIR


@dataclass(frozen=True)
class Assignment:
    """One nbgrader assignment.

    Attributes:
        id: folder name, e.g. ``"02-padding-stride"``.
        number: the two-digit prefix used in check ids, e.g. ``"02"``.
        notebook: the notebook's file name inside the folder.
        title: a human title.
        numpy_only: learners may not use torch, scipy.signal or scipy.ndimage.
        checks_module: the module under ``autograder.checks`` holding its checks.
        call_timeout: seconds one call of a learner function may take in the sandbox, where the
            default (``Limits.call_timeout``) is too short: 06's gate trains in its calls.
        budget: seconds for grading the whole notebook in the sandbox, where the default
            (``Limits.budget``) is too short: 06's gate may train for up to 600 s.
        book_chapter: the chapter's name where it is not the checks module's: 07 (checks
            ``pytorch``) is taught in a section of ``book/training.md``.
    """

    id: str
    number: str
    notebook: str
    title: str
    numpy_only: bool
    checks_module: str
    call_timeout: float | None = None
    budget: float | None = None
    book_chapter: str | None = None

    @property
    def chapter(self) -> str:
        """The book chapter it belongs to, ``book/<chapter>.md``: by the mirror rule the same
        name as its checks module, unless ``book_chapter`` names another."""
        return self.book_chapter or self.checks_module

    @property
    def solution_path(self) -> Path:
        return SOLUTIONS_DIR / self.id / self.notebook

    @property
    def exercise_path(self) -> Path:
        return EXERCISES_DIR / self.id / self.notebook


ASSIGNMENTS: tuple[Assignment, ...] = (
    Assignment("01-convolution", "01", "convolution.ipynb", "Convolution", True, "convolution"),
    Assignment("02-padding-stride", "02", "padding_stride.ipynb", "Padding and stride", True, "padding_stride"),
    Assignment("03-pooling", "03", "pooling.ipynb", "Pooling", True, "pooling"),
    Assignment("04-backprop", "04", "backprop.ipynb", "Backpropagation", True, "backprop"),
    Assignment("05-architectures", "05", "architectures.ipynb", "Classic architectures", False, "architectures"),
    Assignment("06-training", "06", "training.ipynb", "Training a CNN", True, "training", call_timeout=60.0, budget=720.0),
    # The gate (fit_mnist) is one call that trains for up to GATE_TIME_LIMIT (420 s) in the sandbox.
    Assignment("07-pytorch", "07", "pytorch.ipynb", "Training with PyTorch", False, "pytorch", call_timeout=480.0, budget=900.0, book_chapter="training"),
    # A NumPy part and build_resnet18 in torch: torch is importable, and the checks call the NumPy
    # functions through Learner.call_numpy_only, which fails a call that uses torch.
    Assignment("08-modern", "08", "modern.ipynb", "Modern architectures", False, "modern"),
)

FORBIDDEN_IN_NUMPY_ASSIGNMENTS: tuple[str, ...] = ("torch", "scipy.signal", "scipy.ndimage")


def get_assignment(key: str) -> Assignment:
    """Look an assignment up by id (``"02-padding-stride"``) or number (``"02"``).

    Raises:
        ValueError: the key names no assignment.
    """
    for assignment in ASSIGNMENTS:
        if key in (assignment.id, assignment.number):
            return assignment
    known = ", ".join(a.id for a in ASSIGNMENTS)
    raise ValueError(f"unknown assignment {key!r}; expected one of: {known}")
