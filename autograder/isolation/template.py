"""A warm template inside the bubblewrap sandbox: imports once, forks once per notebook.

Started by :mod:`autograder.isolation.warm` under the same bwrap allow-list as a cold child,
but with no learner folder mounted (an empty tmpfs stands at the notebooks' place). It imports
what every notebook of its kind needs (NumPy; torch where the assignment allows it) and makes
itself non-dumpable, so a fork cannot ptrace it or read its memory through ``/proc``.

Per notebook the grader sends, over a Unix socket, the three pipe ends of a cold child, then
its configuration, environment and the files of the learner's folders. The template forks
first; the fork reads that request (so no learner's data ever enters the template's memory),
writes the files below ``/sandbox/notebooks``, closes the socket and runs exactly what a cold
child runs (:func:`autograder._sandbox_worker.serve`: limits, audit hook, lock).
Only one fork exists at a time. When the grader ends the notebook, the template kills every
other process in its PID namespace, empties every writable folder, removes what was added to
``/dev``, and checks that nothing is left (no process, no file, ``/dev`` as it was, no System V
IPC object, no new kernel key); anything it cannot clean makes it answer
``dirty``, and the grader throws it away and starts a fresh one.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import sys
import time
from typing import Any

from autograder import codec

WORK_DIR = "/sandbox/work"
NOTEBOOKS_DIR = "/sandbox/notebooks"
SCRATCH_DIRS = (WORK_DIR, NOTEBOOKS_DIR, "/dev/shm")  # the folders a fork may write, with /dev itself
HEADER = struct.Struct("!BQ")  # op, payload length
FORK, END = 1, 2


def _non_dumpable() -> None:
    import ctypes

    if ctypes.CDLL(None).prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0
        raise OSError("cannot make the template non-dumpable")


def _receive_header(sock: socket.socket) -> tuple[int, int, list[int]] | None:
    """(op, payload length, descriptors) of the next request, its payload still unread;
    ``None`` when the grader hung up."""
    data, fds, _, _ = socket.recv_fds(sock, HEADER.size, 8)
    if not data:
        return None
    while len(data) < HEADER.size:
        more = sock.recv(HEADER.size - len(data))
        if not more:
            return None
        data += more
    op, length = HEADER.unpack(data)
    return op, length, list(fds)


def _receive_payload(sock: socket.socket, length: int) -> Any:
    payload = bytearray()
    while len(payload) < length:
        more = sock.recv(min(length - len(payload), 1 << 20))
        if not more:
            raise EOFError
        payload += more
    return codec.decode_payload(bytes(payload))


def _reply(sock: socket.socket, value: Any) -> None:
    payload = codec.encode(value)[codec.PREFIX_BYTES :]
    sock.sendall(HEADER.pack(0, len(payload)) + payload)


def _empty(folder: str) -> None:
    """Remove everything below ``folder`` (a fork may have made its folders read-only)."""
    if not os.path.isdir(folder):
        return

    def make_writable(func: Any, target: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(target), 0o700)
            if not os.path.islink(target):
                os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass  # what is left makes the template unclean, and it is replaced

    try:
        os.chmod(folder, 0o755)  # as bwrap made each of them
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        _remove(os.path.join(folder, entry), make_writable)


def _remove(path: str, onerror: Any = None) -> None:
    """Remove a file, link or folder tree; what cannot be removed stays (and is found)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=onerror is None, onerror=onerror)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def _dev_state(folder: str = "/dev") -> dict[str, tuple[int, int, str]]:
    """Each entry of the sandbox's ``/dev`` (a tmpfs a fork can write to) and ``/dev/pts``:
    name -> (mode, device, link target)."""
    state = {}
    for directory in (folder, f"{folder}/pts"):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            path = f"{directory}/{name}"
            try:
                info = os.lstat(path)
                state[path] = (info.st_mode, info.st_rdev, os.readlink(path) if os.path.islink(path) else "")
            except OSError:
                pass
    return state


def _restore_dev(snapshot: dict[str, tuple[int, int, str]]) -> bool:
    """Remove what a fork added to ``/dev``; whether ``/dev`` is as the template found it."""
    for path in set(_dev_state()) - set(snapshot):
        if os.path.dirname(path) == "/dev" and path != "/dev/shm":
            _remove(path)
    return _dev_state() == snapshot


def _left_in(folder: str) -> bool:
    """Whether anything is left in ``folder``, or it can no longer be listed."""
    try:
        return bool(os.listdir(folder))
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _others() -> list[int]:
    """The processes in this PID namespace besides bwrap's init (1) and the template."""
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]


def _keys() -> str:
    """The kernel keys this uid can see (a fork of the same uid could leave one for the next)."""
    try:
        with open("/proc/keys") as table:
            return table.read()
    except OSError:
        return ""


def _sysv_objects() -> int:
    count = 0
    for kind in ("shm", "sem", "msg"):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                count += max(0, len(table.read().splitlines()) - 1)
        except OSError:
            pass
    return count


def _write_files(files: list[list[Any]]) -> None:
    for relative, data in files:
        path = os.path.normpath(os.path.join(NOTEBOOKS_DIR, relative))
        if not path.startswith(NOTEBOOKS_DIR + "/"):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as file:
            file.write(data.tobytes())
    for root, dirs, names in os.walk(NOTEBOOKS_DIR):  # read-only, as the cold child's mount
        for name in names:
            os.chmod(os.path.join(root, name), 0o444)


def _fork(length: int, fds: list[int], sock: socket.socket) -> int | None:
    """Fork; the fork itself reads the request (configuration, environment, the learner's
    files), so no learner's data ever enters the template's memory, where a later fork could
    find it. ``None`` when the fork died before it had read the request."""
    request_fd, reply_fd, output_fd = fds
    os.makedirs(os.path.join(WORK_DIR, "tmp"), exist_ok=True)
    consumed_read, consumed_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(consumed_read)
            request = _receive_payload(sock, length)
            _write_files(request.get("files") or [])
            sock.close()
            os.write(consumed_write, b"1")  # the template may use the socket again
            os.close(consumed_write)
            del request["files"]
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            os.close(output_fd)
            os.setsid()
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(WORK_DIR)
            _fresh_random_state()
            import autograder._sandbox_worker as worker

            sys.argv = [worker.__file__, str(request_fd), str(reply_fd)]  # as a cold child's
            code = worker.serve(request["config"], request_fd, reply_fd)
        except BaseException:  # noqa: BLE001 - the fork must never return into the template
            code = 70
        os._exit(code)
    os.close(consumed_write)
    for fd in fds:
        os.close(fd)
    consumed = os.read(consumed_read, 1)
    os.close(consumed_read)
    return pid if consumed == b"1" else None


def _fresh_random_state() -> None:
    """Seed the global generators from the OS, as in a freshly started Python: every fork would
    otherwise inherit the template's streams."""
    if "random" in sys.modules:
        sys.modules["random"].seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def _end(pid: int, grace: float, dev: dict[str, tuple[int, int, str]], keys: str) -> dict[str, Any]:
    """Wait up to ``grace`` for the fork to end by itself, then kill everything else, empty
    the scratch folders, and say how the fork ended and whether all is clean."""
    status = None
    deadline = time.monotonic() + grace
    while True:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = raw
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    killed = status is None
    deadline = time.monotonic() + 3.0
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        while True:  # reap our own children (the fork); bwrap's init reaps the orphans
            try:
                done, raw = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not done:
                break
            if done == pid:
                status = raw
        if not _others() or time.monotonic() >= deadline:
            break
        time.sleep(0.005)
    for folder in SCRATCH_DIRS:
        _empty(folder)
    dev_restored = _restore_dev(dev)
    clean = dev_restored and _keys() == keys and not _others() and not _sysv_objects() and not any(_left_in(d) for d in SCRATCH_DIRS)
    returncode = os.waitstatus_to_exitcode(status) if status is not None else None
    return {"returncode": returncode, "killed": killed, "clean": clean}


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    for module in argv[1:]:
        __import__(module)
    import autograder._sandbox_worker  # noqa: F401 - what every fork runs

    _non_dumpable()
    dev = _dev_state()  # what /dev must look like again after every fork
    keys = _keys()  # and the kernel keys this uid sees
    _reply(sock, {"event": "ready"})
    pid = None
    while True:
        received = _receive_header(sock)
        if received is None:
            return 0
        op, length, fds = received
        if op == FORK and pid is None and len(fds) == 3:
            pid = _fork(length, fds, sock)
            if pid is None:  # the socket is in an unknown state: start afresh
                return 4
            _reply(sock, {"status": "forked"})
            continue
        for fd in fds:
            os.close(fd)
        request = _receive_payload(sock, length)
        if op == END and pid is not None:
            result = _end(pid, float(request.get("grace") or 0.0), dev, keys)
            pid = None
            _reply(sock, result)
            if not result["clean"]:
                return 3
        else:
            _reply(sock, {"status": "error"})


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
