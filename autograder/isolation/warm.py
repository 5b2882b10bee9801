"""Warm workers: one pre-imported template process per kind of sandbox, forked per notebook.

A cold child pays for starting Python and importing NumPy (and torch, 1.9 s, for 05) on every
notebook. :class:`WarmPool` starts, per kind of sandbox (its bwrap allow-list without the
learner's folders, its memory cap and its preloaded modules), one template
(:mod:`autograder.isolation.template`) under bubblewrap, and asks it to fork once per
notebook. The fork runs exactly what a cold child runs, in a working folder and a notebooks
folder the template empties afterwards; the grader sends it the learner's files instead of
mounting them. Nothing of one notebook reaches the next: the template kills every other process
of its PID namespace and refuses to go on (and is replaced) when anything is left.

Only the bubblewrap sandbox has warm workers; the fallback's guards always start cold children.
"""

from __future__ import annotations

import atexit
import os
import socket
import stat
import subprocess
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from autograder import codec
from autograder.isolation import bwrap
from autograder.isolation.template import END, FORK, HEADER

FILES_BYTES = 32 * 1024 * 1024  # a learner folder larger than this is graded by a cold child
FOLDER_FILES = 2000
TEMPLATE_MODULES = ("isolation/__init__.py", "isolation/template.py")


class WarmUnavailable(RuntimeError):
    """A template could not start or answer; the caller grades this notebook cold."""


def folder_files(folders: Sequence[tuple[str, str]]) -> list[list[Any]] | None:
    """``[name/relative path, bytes as uint8 array]`` for the regular files below each host
    folder (no links, no devices, no FIFOs), or ``None`` when they are too many or too large
    to send (the notebook is then graded cold, with the folders mounted)."""
    files: list[list[Any]] = []
    total = 0
    for host, name in folders:
        for root, dirs, names in os.walk(host, followlinks=False):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
            for entry in names:
                path = os.path.join(root, entry)
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    info = os.fstat(fd)
                    if not stat.S_ISREG(info.st_mode):
                        continue
                    total += info.st_size
                    if total > FILES_BYTES or len(files) >= FOLDER_FILES:
                        return None
                    with os.fdopen(os.dup(fd), "rb") as file:
                        data = file.read(info.st_size + 1)[: info.st_size]
                finally:
                    os.close(fd)
                relative = os.path.relpath(path, host)
                files.append([f"{name}/{relative}", np.frombuffer(data, dtype=np.uint8)])
    return files


@dataclass(frozen=True)
class Kind:
    """What makes two notebooks' sandboxes the same: the allow-list without the learner's
    folders, the memory cap and the preloaded modules."""

    mounts: bwrap.Mounts
    memory_bytes: int
    preload: tuple[str, ...]


class Template:
    """One template process and the socket to it."""

    def __init__(self, kind: Kind, env: Mapping[str, str], startup_timeout: float) -> None:
        mounts = replace(
            kind.mounts,
            folders=(),
            scratch_notebooks=True,
            autograder_extra=tuple(dict.fromkeys((*kind.mounts.autograder_extra, *TEMPLATE_MODULES))),
        )
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        modules = ["numpy", *kind.preload]
        argv = bwrap.command(["-m", "autograder.isolation.template", str(theirs.fileno()), *modules], mounts)
        try:  # (the template is non-dumpable, so it never writes a core file; each fork sets its own limits)
            self.process = subprocess.Popen(
                argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=dict(env), start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise WarmUnavailable(f"cannot start a warm template: {exc}") from None
        finally:
            theirs.close()
        self.sock = ours
        self.busy = False
        ready = self._answer(startup_timeout)
        if ready.get("event") != "ready":
            self.close()
            raise WarmUnavailable("the warm template did not start")

    def _answer(self, timeout: float) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        try:
            header = self._exactly(HEADER.size)
            value = codec.decode_payload(self._exactly(HEADER.unpack(header)[1]))
        except (OSError, codec.CodecError, ValueError) as exc:
            raise WarmUnavailable(f"the warm template stopped answering ({type(exc).__name__})") from None
        if not isinstance(value, dict):
            raise WarmUnavailable("the warm template sent a malformed answer")
        return value

    def _exactly(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return bytes(data)

    def _send(self, op: int, value: Any, fds: Sequence[int] = ()) -> None:
        payload = codec.encode(value)[codec.PREFIX_BYTES :]
        header = HEADER.pack(op, len(payload))
        try:
            socket.send_fds(self.sock, [header], list(fds))
            self.sock.sendall(payload)
        except OSError as exc:
            raise WarmUnavailable(f"the warm template is gone ({exc})") from None

    def fork(self, child_fds: Sequence[int], config: dict[str, Any], env: Mapping[str, str], files: list[list[Any]], timeout: float) -> None:
        self._send(FORK, {"config": config, "env": dict(env), "files": files}, child_fds)
        if self._answer(timeout).get("status") != "forked":
            raise WarmUnavailable("the warm template refused to fork")
        self.busy = True

    def end(self, grace: float) -> tuple[int | None, bool, bool]:
        """(the fork's exit status as ``Popen.returncode``, killed by us, template still clean)."""
        self.busy = False
        try:
            self._send(END, {"grace": grace})
            answer = self._answer(grace + 10.0)
        except WarmUnavailable:
            return None, True, False
        code = answer.get("returncode")
        return (code if type(code) is int else None), bool(answer.get("killed")), answer.get("clean") is True

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.process.poll() is None:
                try:
                    os.killpg(self.process.pid, 9)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


class WarmProcess:
    """The fork grading one notebook, as :class:`autograder.sandbox._Child` sees it."""

    def __init__(self, pool: "WarmPool", kind: Kind, template: Template) -> None:
        self.pool, self.kind, self.template = pool, kind, template
        self.returncode: int | None = None
        self.ended = False

    def end(self, grace: float) -> tuple[int | None, bool]:
        """Stop the fork (after ``grace`` seconds to end by itself) and clean up after it:
        (its exit status, whether we killed it)."""
        if self.ended:
            return self.returncode, False
        self.ended = True
        code, killed, clean = self.template.end(grace)
        self.returncode = code
        if not clean:
            self.pool.discard(self.kind, self.template)
        return code, killed


class WarmPool:
    """The templates of one grading process, one per :class:`Kind`, started on first use."""

    def __init__(self) -> None:
        self.templates: dict[Kind, Template] = {}
        self.started = 0

    def spawn(self, kind: Kind, child_fds: Sequence[int], config: dict[str, Any], env: Mapping[str, str], folders: Sequence[tuple[str, str]], startup_timeout: float) -> WarmProcess:
        """Fork the kind's template for one notebook, whose child ends are ``child_fds``
        (request read, reply write, output write).

        Raises:
            WarmUnavailable: the folders are too large to send, or no template can start.
        """
        files = folder_files(folders)
        if files is None:
            raise WarmUnavailable("the learner's folder is too large to send")
        template = self.templates.get(kind)
        if template is not None and (template.busy or not template.alive()):
            self.discard(kind)
            template = None
        if template is None:
            template = Template(kind, env, startup_timeout)
            self.templates[kind] = template
            self.started += 1
        try:
            template.fork(child_fds, config, env, files, startup_timeout)
        except WarmUnavailable:
            self.discard(kind)
            raise
        return WarmProcess(self, kind, template)

    def discard(self, kind: Kind, template: Template | None = None) -> None:
        """Stop ``kind``'s template (only if it is ``template``, when given) and forget it."""
        current = self.templates.get(kind)
        template = template or current
        if template is None:
            return
        if current is template:
            del self.templates[kind]
        template.close()

    def close(self) -> None:
        for kind in list(self.templates):
            self.discard(kind)


_POOL: WarmPool | None = None


def shared_pool() -> WarmPool:
    """This process's pool (each ``--jobs`` worker process has its own)."""
    global _POOL
    if _POOL is None:
        _POOL = WarmPool()
        atexit.register(_POOL.close)
    return _POOL
