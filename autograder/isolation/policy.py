"""The course's rules for the sandbox: what each assignment's child may see, and when grading
may fall back to the weaker guards.

Official grading (``--batch``, ``--strict``, ``CI=true``, nbgrader's kernel) needs bubblewrap
and refuses to grade without it; a learner grading their own work elsewhere (macOS, Windows,
no user namespaces) gets the audit hook and Landlock with a one-line warning.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autograder.assignments import ASSIGNMENTS, Assignment
from autograder.isolation import bwrap
from autograder.paths import data_root
from autograder.i18n import N_, _

NUMPY_PACKAGES = (
    "numpy", "scipy", "matplotlib", "mpl_toolkits", "PIL", "pillow", "contourpy", "cycler", "kiwisolver",
    "fontTools", "pyparsing", "dateutil", "six", "packaging",
    "polib",  # the child's messages in the learner's language (autograder/i18n.py)
    "IPython", "traitlets", "pygments", "decorator",  # the grader's own reading of %magics and !commands
)
HIDDEN_IN_NUMPY_ASSIGNMENTS = ("scipy/signal", "scipy/ndimage")  # torch is simply not mounted
TORCH_PACKAGES = (
    "torch", "torchgen", "functorch", "filelock", "typing_extensions", "sympy", "mpmath", "networkx",
    "jinja2", "markupsafe", "fsspec", "safetensors",
)
# 05 loads the reference weights and MNIST, and runs the torch-backed stand-ins itself
# (07: its checks' trusted drivers too)
TORCH_AUTOGRADER_EXTRA = ("reference", "data.py", "machine.py", "isolation/__init__.py", "isolation/torch_standins.py", "torch_drivers.py")
# 06 (NumPy only) imports the learner's layers from the folders beside it, as 05 does, and its
# set-up cell imports the MNIST loader (no MNIST: its self-checks, which load it, are skipped).
NUMPY_SIBLING_IMPORTERS = ("06-training",)
# 06 grades none of the layers its checks swap out, so their NumPy stand-ins (not the course's
# solutions) run in its child: asking the grading process for every layer's result would ship
# each activation both ways and make its training gate minutes slower.
STANDINS_IN_CHILD = ("06-training",)
NUMPY_SIBLING_IMPORTERS_EXTRA = ("data.py", "isolation/__init__.py", "isolation/standins.py")
SANDBOX_ENV_VAR = "AUTOGRADER_SANDBOX"
WARNING = N_("warning: bubblewrap is not available ({reason}); grading with the weaker built-in guards (see the README's threat model)")


class IsolationUnavailable(RuntimeError):
    """Official grading was asked for where bwrap cannot run; the message is one line."""


def strict_by_default() -> bool:
    """Grading in CI always needs the real sandbox."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def use_bwrap(strict: bool) -> bool:
    """Whether to run children under bwrap.

    Raises:
        IsolationUnavailable: ``strict`` and bwrap cannot run here.
    """
    reason = bwrap.unavailable_reason()
    if os.environ.get(SANDBOX_ENV_VAR) == "guards" and reason is None:
        reason = _("{variable}=guards asks for the fallback").format(variable=SANDBOX_ENV_VAR)  # benchmarks compare the two
    if reason is None:
        return True
    if strict or strict_by_default():
        raise IsolationUnavailable(_("official grading needs the bubblewrap sandbox, but {reason}").format(reason=reason))
    _warn_once(reason)
    return False


_warned: list[str] = []


def _warn_once(reason: str) -> None:
    if not _warned:
        _warned.append(reason)
        print(_(WARNING).format(reason=reason), file=sys.stderr)


def notebook_mounts(notebook_path: str | os.PathLike[str], assignment: Assignment) -> tuple[bwrap.Mounts, str]:
    """The mounts for grading ``notebook_path`` and its folder's path inside the sandbox.

    The learner's notebook folder is shown read-only; 05 and 06 also see the same learner's folders
    of the NumPy assignments beside it (they import their layers); 05 also torch, the reference
    weights and MNIST.
    """
    folder = Path(notebook_path).resolve().parent
    folders = [(str(folder), folder.name)]
    imports_siblings = not assignment.numpy_only or assignment.id in NUMPY_SIBLING_IMPORTERS
    if imports_siblings:
        for other in ASSIGNMENTS:
            sibling = folder.parent / other.id
            if other.id != folder.name and other.numpy_only and sibling.is_dir() and not sibling.is_symlink():
                folders.append((str(sibling), other.id))
    mnist = data_root() / "mnist"
    mounts = bwrap.Mounts(
        packages=NUMPY_PACKAGES if assignment.numpy_only else NUMPY_PACKAGES + TORCH_PACKAGES,
        hidden_packages=HIDDEN_IN_NUMPY_ASSIGNMENTS if assignment.numpy_only else (),
        autograder_extra=(NUMPY_SIBLING_IMPORTERS_EXTRA if imports_siblings else ()) if assignment.numpy_only else TORCH_AUTOGRADER_EXTRA,
        folders=tuple(folders),
        data=None if assignment.numpy_only or not mnist.is_dir() else str(mnist),
    )
    return mounts, f"{bwrap.NOTEBOOKS_DIR}/{folder.name}"
