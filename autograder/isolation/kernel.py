"""nbgrader's kernel inside the bubblewrap sandbox: ``python -m autograder.isolation.kernel -f
CONNECTION_FILE`` (the ``cnn-course-sandbox`` kernelspec that ``nbgrader_config.py`` names for
``autograde``).

The kernel runs ipykernel with the same namespaces, uid, capabilities and read-only allow-list
as the command line's sandbox, and talks to nbgrader over IPC sockets in the connection file's
folder (the only folder it may write besides its tmpfs). Its test cells run the checks in
process, so it also sees the whole autograder package, oracle fixtures included; never
``solutions/``, ``.git``, other submissions or the network. It sees the notebook's folder and the
folders beside it (05 imports the same learner's 02-04 notebooks), read-only.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from autograder.isolation import bwrap
from autograder.paths import data_root
from autograder.i18n import _


def private_connection(connection_file: str) -> str:
    """A copy of the connection file in a new private folder, whose IPC sockets are reached from
    the paths nbgrader expects through symbolic links; returns the folder. The kernel may write
    only there (binding the connection file's own folder, often ``/tmp``, would open it all).

    Raises:
        ValueError: the connection file does not use the IPC transport.
    """
    with open(connection_file, encoding="utf-8") as handle:
        info = json.load(handle)
    if info.get("transport") != "ipc":
        raise ValueError("the sandboxed kernel talks over IPC sockets only: set c.KernelManager.transport = 'ipc'")
    if not os.path.isabs(info.get("ip", "")):
        raise ValueError("the IPC socket path must be absolute: set c.KernelManager.ip to a path in a private folder")
    private = tempfile.mkdtemp(prefix="cnn-course-kernel-")
    expected = info["ip"]
    info["ip"] = os.path.join(private, "kernel-ipc")
    for key in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
        link = f"{expected}-{info[key]}"
        if not os.path.lexists(link):
            os.symlink(f"{info['ip']}-{info[key]}", link)
    with open(os.path.join(private, "connection.json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    return private


def kernel_command(private: str, cwd: str) -> list[str]:
    """The bwrap command line that runs ipykernel on ``private``'s connection file in ``cwd``."""
    folder = os.path.realpath(cwd)
    mnist = data_root() / "mnist"
    mounts = bwrap.Mounts(
        packages=(),
        all_packages=True,
        whole_autograder=True,
        same_path=(os.path.dirname(folder),),
        writable=(private,),
        data=str(mnist) if mnist.is_dir() else None,
        chdir=folder,
    )
    return bwrap.command(["-m", "ipykernel_launcher", "-f", os.path.join(private, "connection.json")], mounts)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "-f":
        print("usage: python -m autograder.isolation.kernel -f CONNECTION_FILE", file=sys.stderr)
        return 2
    reason = bwrap.unavailable_reason()
    if reason is not None:
        print(_("the course's nbgrader kernel needs the bubblewrap sandbox, but {reason}").format(reason=reason), file=sys.stderr)
        return 2
    env = bwrap.child_environment({k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "LC_MESSAGES", "CNN_COURSE_LANG", "CNN_COURSE_DATA")})
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    if (data_root() / "mnist").is_dir():
        env["CNN_COURSE_DATA"] = bwrap.DATA_DIR
    try:
        private = private_connection(argv[1])
    except (OSError, ValueError, KeyError) as exc:
        print(_("cannot start the course's sandboxed kernel: {problem}").format(problem=exc), file=sys.stderr)
        return 2
    command = kernel_command(private, os.getcwd())
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
