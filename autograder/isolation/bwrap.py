"""The command line that starts a sandboxed child under bubblewrap (``bwrap``).

The child gets new user, PID, network, IPC, UTS and (where possible) cgroup namespaces, an
unprivileged uid/gid (65534, "nobody"), no capabilities, its own session, and it dies with the
grading process. Its file system is built from nothing: a read-only allow-list of mounts (the
system libraries, the Python interpreter, the packages the assignment allows, the few autograder
modules the child runs, the learner's own notebook folders) and a private, size-capped tmpfs as
its working directory. The repository, ``solutions/``, ``.git``, the oracle fixtures, other
learners' folders, the host network and other processes' ``/proc`` are simply not there.

The sandbox knows nothing about the course: callers pass the packages and folders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

from autograder.i18n import N_, _
from autograder.paths import PACKAGE_DIR

INSTALL_HINT = N_("install bubblewrap (Debian/Ubuntu: sudo apt-get install -y bubblewrap)")
SANDBOX_UID = 65534
WORK_DIR = "/sandbox/work"
SITE_DIR = "/sandbox/site"
LIB_DIR = "/sandbox/lib"
NOTEBOOKS_DIR = "/sandbox/notebooks"
DATA_DIR = "/sandbox/data"
# The autograder modules the worker imports, and the one learners' notebooks import.
CHILD_MODULES = (
    "__init__.py", "_sandbox_worker.py", "codec.py", "learner.py", "registry.py", "notebook.py",
    "assignments.py", "paths.py", "magics.py", "selfcheck.py", "errors.py", "i18n.py", "locale",
)
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf")


@dataclass(frozen=True)
class Mounts:
    """What a child may see besides the interpreter and its standard library.

    Attributes:
        packages: top-level names in site-packages to show, e.g. ``("numpy", "numpy.libs")``.
        hidden_packages: subfolders of those to hide (empty), e.g. ``("scipy/signal",)``.
        autograder_extra: paths inside the autograder package to show besides
            :data:`CHILD_MODULES`, e.g. ``("reference", "data.py")``.
        folders: host folder -> name under :data:`NOTEBOOKS_DIR` (read-only).
        data: a host folder shown read-only as ``/sandbox/data/<its name>`` (``None``: none).
        work_bytes: size of the writable tmpfs working directory.
        all_packages: show the whole site-packages instead of ``packages`` (nbgrader's kernel).
        whole_autograder: show the whole autograder package (nbgrader's kernel runs the checks).
        same_path: host folders shown read-only at their own paths.
        writable: host folders shown read-write at their own paths (the kernel's sockets).
        chdir: the working directory inside.
        scratch_notebooks: an empty, size-capped tmpfs at :data:`NOTEBOOKS_DIR` instead of the
            folders (a warm template writes each notebook's files there).
    """

    packages: tuple[str, ...]
    hidden_packages: tuple[str, ...] = ()
    autograder_extra: tuple[str, ...] = ()
    folders: tuple[tuple[str, str], ...] = ()
    data: str | None = None
    work_bytes: int = 64 * 1024 * 1024
    all_packages: bool = False
    whole_autograder: bool = False
    same_path: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    chdir: str = WORK_DIR
    scratch_notebooks: bool = False


def bwrap_executable() -> str | None:
    return shutil.which("bwrap")


@lru_cache(maxsize=None)
def unavailable_reason() -> str | None:
    """``None`` when bwrap can build a sandbox here, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return _("bubblewrap needs Linux, and this is {platform}").format(platform=sys.platform)
    executable = bwrap_executable()
    if executable is None:
        return _("bwrap is not installed; {hint}").format(hint=_(INSTALL_HINT))
    probe = [executable, *_namespace_args(), "--ro-bind", "/", "/", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _("bwrap cannot run ({problem})").format(problem=exc)
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        return _("bwrap cannot create namespaces here ({problem})").format(problem=detail[-1] if detail else result.returncode)
    return None


def _namespace_args() -> list[str]:
    return [
        "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--cap-drop", "ALL",
        "--die-with-parent", "--new-session", "--hostname", "sandbox",
    ]


def site_packages() -> Path | None:
    """The site-packages folder NumPy was imported from (the virtual environment's)."""
    import numpy

    return Path(numpy.__file__).resolve().parent.parent


def _ro(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> list[str]:
    return ["--ro-bind", str(source), str(target)]


@lru_cache(maxsize=None)
def _site_entries(site: Path) -> tuple[str, ...]:
    return tuple(sorted(os.listdir(site)))


def _package_mounts(packages: Iterable[str], hidden: Iterable[str]) -> list[str]:
    site = site_packages()
    if site is None:
        return []
    wanted = set(packages)
    args: list[str] = ["--dir", SITE_DIR]
    for entry in _site_entries(site):
        base = entry.removesuffix(".py")
        if base in wanted or (entry.endswith(".libs") and entry.removesuffix(".libs") in wanted):
            args += _ro(site / entry, f"{SITE_DIR}/{entry}")
    for sub in hidden:
        if (site / sub).is_dir() and sub.split("/", 1)[0] in wanted:
            args += ["--tmpfs", f"{SITE_DIR}/{sub}", "--remount-ro", f"{SITE_DIR}/{sub}"]
    return args


def command(python_args: list[str], mounts: Mounts) -> list[str]:
    """The whole ``bwrap ... python -S ...`` command line.

    ``python_args`` follow the interpreter, e.g. ``["-m", "autograder._sandbox_worker", "3", "4"]``;
    the child's ``sys.path`` is its standard library, :data:`LIB_DIR` (the autograder modules)
    and :data:`SITE_DIR` (the allowed packages), set with ``PYTHONPATH``.

    Raises:
        RuntimeError: bwrap is not installed.
    """
    executable = bwrap_executable()
    if executable is None:
        raise RuntimeError(_("bwrap is not installed; {hint}").format(hint=_(INSTALL_HINT)))
    args = [executable, *_namespace_args()]
    for directory in SYSTEM_DIRS:
        if os.path.islink(directory):
            args += ["--symlink", os.readlink(directory), directory]
        elif os.path.isdir(directory):
            args += _ro(directory, directory)
    for file in SYSTEM_FILES:
        if os.path.isfile(file):
            args += _ro(file, file)
    interpreter = Path(sys.base_prefix).resolve()
    if not any(str(interpreter).startswith(d + "/") or str(interpreter) == d for d in SYSTEM_DIRS):
        args += _ro(interpreter, interpreter)
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--size", str(mounts.work_bytes), "--tmpfs", WORK_DIR, "--dir", f"{WORK_DIR}/tmp"]
    if mounts.whole_autograder:
        args += _ro(PACKAGE_DIR, f"{LIB_DIR}/autograder")
    else:
        args += ["--dir", f"{LIB_DIR}/autograder", "--dir", f"{LIB_DIR}/autograder/isolation"]
        for name in (*CHILD_MODULES, *mounts.autograder_extra):
            if (PACKAGE_DIR / name).exists():
                args += _ro(PACKAGE_DIR / name, f"{LIB_DIR}/autograder/{name}")
    site = site_packages()
    if mounts.all_packages and site is not None:
        args += _ro(site, SITE_DIR)
    else:
        args += _package_mounts(mounts.packages, mounts.hidden_packages)
    for folder in mounts.same_path:
        args += _ro(folder, folder)
    for folder in mounts.writable:
        args += ["--bind", folder, folder]
    if mounts.scratch_notebooks:
        args += ["--size", str(mounts.work_bytes), "--tmpfs", NOTEBOOKS_DIR]
    for host, name in mounts.folders:
        args += _ro(host, f"{NOTEBOOKS_DIR}/{name}")
    if mounts.data:
        args += _ro(mounts.data, f"{DATA_DIR}/{Path(mounts.data).name}")
    args += ["--remount-ro", "/", "--chdir", mounts.chdir]
    python = os.path.realpath(sys.executable)
    return [*args, "--", python, "-S", "-B", *python_args]


def child_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` adapted to the sandbox's file system: its paths replaced by the sandbox's."""
    adapted = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV", "XDG_CACHE_HOME", "HOME", "USER")}
    adapted.update(
        PYTHONPATH=f"{LIB_DIR}:{SITE_DIR}",
        HOME=WORK_DIR,
        TMPDIR=f"{WORK_DIR}/tmp",
        MPLCONFIGDIR=f"{WORK_DIR}/tmp",
        XDG_CACHE_HOME=f"{WORK_DIR}/tmp",
    )
    if "CNN_COURSE_DATA" in adapted:
        adapted["CNN_COURSE_DATA"] = DATA_DIR
    return adapted
