"""Run a notebook's learner code in a limited child process: :class:`SandboxedLearner`.

The parent (trusted: pytest, the checks, the scores) starts ``python -m
autograder._sandbox_worker`` in a fresh temporary working directory, in its own process group,
with a scrubbed environment, and talks to it over two dedicated pipes in the safe format of
:mod:`autograder.codec`. The child's stdout and stderr go to a third pipe, which the parent
reads and truncates, so nothing the learner prints can reach the protocol or the report.

Limits: a wall-clock timeout per call and one for executing the cells (the child's whole
process group is killed), an address-space cap (``RLIMIT_AS``), a file-size cap, no core
dumps, and the audit hook of :func:`autograder._sandbox_worker.install_guard` (no network, no
processes, no writes outside the working directory, no forbidden imports). On Linux with
Landlock, the kernel enforces the file rules too
(:func:`autograder._sandbox_worker.restrict_filesystem`), which also stops C code. A crash, timeout or
``os._exit`` fails the call in progress only; the next call starts a fresh child and runs the
cells again. A cell that hangs or ends the process while the cells run is skipped from then on.

The sandbox knows nothing about the course: callers pass forbidden module prefixes and the
sentence that explains the rule.
"""

from __future__ import annotations

import fcntl
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from autograder import codec
from autograder.isolation import bwrap
from autograder.isolation.standins import run_standin, standins_for
from autograder.learner import LearnerError, wall_times
from autograder.notebook import NOTEBOOK_DIR_ENV_VAR, Notebook
from autograder.i18n import LANG_ENV_VAR, _, language
from autograder.paths import PACKAGE_DIR

GIB = 1024**3
MIB = 1024**2
KEPT_ENV_VARS = (
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "VIRTUAL_ENV", "XDG_CACHE_HOME",
    "CNN_COURSE_DATA", "CUDA_VISIBLE_DEVICES", "SYSTEMROOT",
)
WARM_ENV_VAR = "AUTOGRADER_WARM"  # "require": fail rather than fall back to a cold child
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


class SandboxError(RuntimeError):
    """The sandbox itself could not run (not the learner's fault), e.g. the child failed to
    start under the memory cap."""


@dataclass(frozen=True)
class Limits:
    """What one sandboxed notebook may use.

    Attributes:
        call_timeout: seconds per call of a learner function (wall clock).
        exec_timeout: seconds to execute the notebook's cells (wall clock), counted from the
            moment the child is ready.
        startup_timeout: seconds for the child to import what it needs (torch takes a few).
        memory_bytes: address-space cap of the child (``RLIMIT_AS``); importing torch alone
            maps about 0.8 GiB.
        file_bytes: largest file the child may write in its working directory.
        output_bytes: how much of the child's stdout/stderr is kept (start and end).
        reply_bytes: largest reply accepted from the child.
        cpu_seconds: CPU time of one child over all its calls (``RLIMIT_CPU``), a backstop for
            a child orphaned where the kernel cannot kill it with its parent.
        budget: seconds for the whole notebook (starting the child, its cells, restarts and
            every call together); once spent, the remaining calls fail at once, so a notebook
            of many hanging cells costs at most this.
    """

    call_timeout: float = 10.0
    exec_timeout: float = 60.0
    startup_timeout: float = 120.0
    memory_bytes: int = 2 * GIB
    file_bytes: int = 64 * MIB
    output_bytes: int = 16 * 1024
    reply_bytes: int = 64 * MIB
    cpu_seconds: int = 600
    budget: float = 180.0

    def __post_init__(self) -> None:
        if self.call_timeout <= 0 or self.exec_timeout <= 0 or self.budget <= 0:
            raise ValueError("sandbox timeouts must be positive")
        if self.memory_bytes < 256 * MIB:
            raise ValueError("the sandbox needs at least 256 MiB of address space to start Python and NumPy")


class _Output:
    """The start and the end of a stream, with the number of bytes dropped in between."""

    def __init__(self, limit: int) -> None:
        self.head_limit = limit * 3 // 4
        self.tail_limit = limit - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> None:
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            excess = len(self.tail) - self.tail_limit
            if excess > 0:
                del self.tail[:excess]
                self.dropped += excess

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if not self.tail:
            return head
        gap = "\n… " + _("[{count} bytes not shown]").format(count=self.dropped) + " …\n" if self.dropped else ""
        return head + gap + self.tail.decode("utf-8", "replace")


class _Timeout(Exception):
    pass


class _Died(Exception):
    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


def _remove_tree(path: str) -> None:
    def make_writable(func: Any, target: str, _exc: Any) -> None:
        try:
            os.chmod(os.path.dirname(target), stat.S_IRWXU)
            os.chmod(target, stat.S_IRWXU)
            func(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=make_writable)


def _describe_exit(returncode: int | None, killed_by_us: bool) -> str:
    if returncode is None:
        return _("closed its connection")
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = _("signal {number}").format(number=-returncode)
        if name == "SIGSEGV":
            return _("segmentation fault")
        if name == "SIGKILL" and not killed_by_us:
            return _("killed by SIGKILL, probably out of memory")
        return _("killed by {signal}").format(signal=name)
    return _("exit code {code}, e.g. from os._exit").format(code=returncode)


_INCOMPLETE = object()


class _Child:
    """One worker process and its pipes."""

    def __init__(self, config: dict[str, Any], env: dict[str, str], output: _Output, limits: Limits, mounts: bwrap.Mounts | None, warm: Any = None) -> None:
        if mounts is None:  # the fallback: a host folder, guarded by the audit hook and Landlock
            self.host_root: str | None = os.path.realpath(tempfile.mkdtemp(prefix="autograder-"))
            os.mkdir(os.path.join(self.host_root, "tmp"))
            self.root = self.host_root
            env = dict(env, TMPDIR=os.path.join(self.root, "tmp"))
        else:  # a tmpfs that vanishes with the sandbox
            self.host_root = None
            self.root = bwrap.WORK_DIR
            env = bwrap.child_environment(env)
        self.output = output
        self.reply_bytes = limits.reply_bytes
        self.exec_timeout = limits.exec_timeout
        self.startup_timeout = limits.startup_timeout
        self.started_at = time.monotonic()
        self.ready_at: float | None = None
        self.kernel_guard = 0
        self.current_cell: int | None = None
        self.cells_started = False
        self.forbidden: list[str] = []
        self.standins: dict[str, Any] = {}  # what the call in progress swaps in
        self.budget_end: float | None = None  # the notebook's time budget ends then
        self.ready = False
        self.killed = False
        self._inbox = bytearray()
        self._outbox = bytearray()
        request_read, self.request_fd = os.pipe()
        self.reply_fd, reply_write = os.pipe()
        self.output_fd, output_write = os.pipe()
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # room for a whole notebook, so start() never waits
            try:
                fcntl.fcntl(self.request_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
            except OSError:
                pass
        worker = ["-m", "autograder._sandbox_worker", str(request_read), str(reply_write)]
        argv = [sys.executable, *worker] if mounts is None else bwrap.command(worker, mounts)
        self.process: Any = None
        if warm is not None and mounts is not None:  # a fork of a warm template, else cold
            self.process = _warm_process(warm, (request_read, reply_write, output_write), dict(config, root=self.root), env, mounts, limits)
        try:
            self.process = self.process or subprocess.Popen(
                argv,
                pass_fds=(request_read, reply_write),
                stdin=subprocess.DEVNULL,
                stdout=output_write,
                stderr=output_write,
                cwd=self.host_root or "/",
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (request_read, reply_write, output_write, self.request_fd, self.reply_fd, self.output_fd):
                os.close(fd)
            if self.host_root:
                _remove_tree(self.host_root)
            raise SandboxError(_("cannot start the sandbox process: {problem}").format(problem=exc)) from None
        for fd in (request_read, reply_write, output_write):
            os.close(fd)
        for fd in (self.request_fd, self.reply_fd, self.output_fd):
            os.set_blocking(fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.reply_fd, selectors.EVENT_READ, "reply")
        self.selector.register(self.output_fd, selectors.EVENT_READ, "output")
        self._writing = False
        if isinstance(self.process, subprocess.Popen):  # a warm fork got its configuration already
            self.send(dict(config, root=self.root))

    def send(self, value: Any) -> None:
        self._outbox += codec.encode(value)
        self._flush()

    def _flush(self) -> None:
        while self._outbox:
            try:
                written = os.write(self.request_fd, self._outbox)
            except BlockingIOError:
                break
            except OSError:  # the child is gone; reading its reply will say so
                self._outbox.clear()
                break
            del self._outbox[:written]
        wants_write = bool(self._outbox)
        if wants_write != self._writing:
            if wants_write:
                self.selector.register(self.request_fd, selectors.EVENT_WRITE, "request")
            else:
                self.selector.unregister(self.request_fd)
            self._writing = wants_write

    def _next_frame(self) -> Any:
        """The next whole frame's value, or :data:`_INCOMPLETE`."""
        if len(self._inbox) < codec.PREFIX_BYTES:
            return _INCOMPLETE
        length = codec.frame_length(bytes(self._inbox[: codec.PREFIX_BYTES]))
        if length > self.reply_bytes:
            raise codec.CodecError(f"a reply of {length} bytes, larger than the {self.reply_bytes >> 20} MiB limit")
        end = codec.PREFIX_BYTES + length
        if len(self._inbox) < end:
            return _INCOMPLETE
        payload = bytes(self._inbox[codec.PREFIX_BYTES : end])
        del self._inbox[:end]
        return codec.decode_payload(payload)

    def receive(self, deadline: float | None) -> dict[str, Any]:
        """The next reply (events are recorded on the way).

        Args:
            deadline: a ``time.monotonic()`` value; ``None`` for the cells' deadline, which
                starts when the child is ready (imports done) and lasts ``exec_timeout``.

        Raises:
            _Timeout: the deadline passed.
            _Died: the child ended or closed its reply pipe.
            codec.CodecError: the child sent a malformed frame.
        """
        while True:
            value = self._next_frame()
            if value is not _INCOMPLETE:
                if not isinstance(value, dict):
                    raise codec.CodecError("a reply that is not a dict")
                event = value.get("event")
                if event == "cell":
                    index = value.get("index")
                    self.current_cell = index if type(index) is int else None
                    self.cells_started = True
                elif event == "ready":
                    self.ready_at = time.monotonic()
                    self.kernel_guard = value.get("kernel_guard") if type(value.get("kernel_guard")) is int else 0
                elif event == "forbidden":
                    self.forbidden.append(_capped(str(value.get("module")), 100))
                elif event == "standin":
                    self.send(run_standin(value.get("name"), self.standins, value.get("args"), value.get("kwargs")))
                else:
                    return value
                continue
            if deadline is not None:
                remaining = deadline - time.monotonic()
            elif self.ready_at is None:
                remaining = self.started_at + self.startup_timeout - time.monotonic()
            else:
                remaining = self.ready_at + self.exec_timeout - time.monotonic()
            if self.budget_end is not None:
                remaining = min(remaining, self.budget_end - time.monotonic())
            if remaining <= 0:
                raise _Timeout()
            for key, _mask in self.selector.select(remaining):
                if key.data == "request":
                    self._flush()
                elif key.data == "output":
                    data = self._read(self.output_fd)
                    if data == b"":
                        self.selector.unregister(self.output_fd)
                    elif data:
                        self.output.feed(data)
                else:
                    data = self._read(self.reply_fd)
                    if data == b"":
                        raise _Died(self.stop(grace=1.0))
                    if data:
                        self._inbox += data

    @staticmethod
    def _read(fd: int) -> bytes | None:
        """Available bytes; ``b""`` at end of file, ``None`` when nothing is there yet."""
        try:
            return os.read(fd, 1 << 20)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def stop(self, grace: float = 0.0) -> str:
        """Kill the process group, collect the last output, and describe how the child ended.

        Args:
            grace: seconds to let a child that is ending by itself finish first (so its exit
                status, not our SIGKILL, says how it ended).
        """
        if not isinstance(self.process, subprocess.Popen):  # a warm fork: its template ends it
            returncode, killed_by_us = self.process.end(grace)
            self._drain_output()
            return _describe_exit(returncode, killed_by_us)
        if grace:
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        killed_by_us = self.process.poll() is None
        if killed_by_us and not self.killed:  # only while unreaped: a reaped pid may be reused
            self.killed = True
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            returncode = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            returncode = None
        self._drain_output()
        return _describe_exit(returncode, killed_by_us)

    def _drain_output(self) -> None:
        while True:
            try:
                data = os.read(self.output_fd, 1 << 16)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.output.feed(data)

    def close(self) -> str:
        """End the child, remove its working directory, and say how the child ended (:meth:`stop`)."""
        how = self.stop()
        self.selector.close()
        for fd in (self.request_fd, self.reply_fd, self.output_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self.host_root:
            _remove_tree(self.host_root)
        return how


def _warm_process(warm: Any, child_fds: tuple[int, int, int], config: dict[str, Any], env: dict[str, str], mounts: bwrap.Mounts, limits: Limits) -> Any:
    """A fork of ``warm``'s template (:mod:`autograder.isolation.warm`) for these pipe ends,
    or ``None`` when none can be had (the caller then starts a cold child)."""
    from autograder.isolation.warm import Kind, WarmUnavailable

    kind = Kind(replace(mounts, folders=()), limits.memory_bytes, tuple(config.get("preload") or ()))
    try:
        return warm.spawn(kind, child_fds, config, env, mounts.folders, limits.startup_timeout)
    except WarmUnavailable as exc:
        if os.environ.get(WARM_ENV_VAR) == "require":  # tests and benchmarks: no silent fallback
            raise SandboxError(str(exc)) from None
        return None


class SandboxedLearner:
    """A :class:`~autograder.learner.Learner` whose code runs in a limited child process.

    Args:
        notebook: the notebook whose learner code cells run in the child.
        limits: timeouts and caps.
        forbidden_modules: module prefixes the learner may not import, e.g. ``("torch",)``.
        forbidden_rule: ends the sentence "``f`` uses torch, which ...".
        preload: modules the child imports before learner code runs (trusted, e.g. ``torch``,
            which needs ctypes while it loads).
        deny_read: directories the learner code may not read ...
        allow_read: ... except these subdirectories.
        notebook_dir: ``$AUTOGRADER_NOTEBOOK_DIR`` in the child; the notebook's folder by default.
        kernel_guard: also have the kernel enforce the file rules with Landlock where Linux
            offers it (code in C bypasses audit hooks); fallback only.
        mounts: run the child under bubblewrap with these mounts
            (:mod:`autograder.isolation.bwrap`); ``None`` for the fallback of audit hook,
            Landlock and ``deny_read``. Under bwrap, ``notebook_dir`` is a path inside the
            sandbox.
        warm: a :class:`~autograder.isolation.warm.WarmPool` whose templates fork a child per
            start instead of starting Python afresh (bwrap only; ``None``: cold children).
        standins_in_child: the child runs the NumPy stand-ins itself instead of asking the
            grading process for each result (only where no stand-in's function is graded:
            :data:`autograder.isolation.policy.STANDINS_IN_CHILD`).
    """

    def __init__(
        self,
        notebook: Notebook,
        *,
        limits: Limits = Limits(),
        forbidden_modules: Iterable[str] = (),
        forbidden_rule: str = "is not allowed here",
        preload: Iterable[str] = (),
        deny_read: Iterable[str | os.PathLike[str]] = (),
        allow_read: Iterable[str | os.PathLike[str]] = (),
        notebook_dir: str | os.PathLike[str] | None = None,
        kernel_guard: bool = True,
        mounts: bwrap.Mounts | None = None,
        warm: Any = None,
        standins_in_child: bool = False,
    ) -> None:
        self.notebook = notebook
        self._standins_in_child = standins_in_child
        self.mounts = mounts
        self.warm = warm
        self.limits = limits
        self.forbidden_modules = tuple(forbidden_modules)
        self.forbidden_rule = forbidden_rule
        self._cells = [(cell.index, cell.source) for cell in notebook.learner_code()]
        self._config = {
            "op": "config",
            "memory_bytes": limits.memory_bytes,
            "cpu_seconds": limits.cpu_seconds,
            "parent_pid": os.getpid() if mounts is None else None,  # bwrap's --die-with-parent instead
            "file_bytes": limits.file_bytes,
            "forbidden_modules": list(self.forbidden_modules),
            "preload": list(preload),
            "deny_read": [os.path.realpath(p) for p in deny_read] if mounts is None else [],
            "allow_read": [os.path.realpath(p) for p in allow_read] if mounts is None else [],
            "landlock": kernel_guard and mounts is None,
        }
        folder = Path(notebook_dir) if notebook_dir is not None else Path(notebook.path).parent
        self._env = self._child_env(folder.resolve() if mounts is None else folder)
        self._output = _Output(limits.output_bytes)
        self._child: _Child | None = None
        self._skipped: dict[int, str] = {}
        self._cell_errors: list[str] | None = None
        self._setup_forbidden: list[str] = []
        self._callables: frozenset[str] = frozenset()
        self._broken: str | None = None
        self._kernel_guard = 0
        self._budget_end: float | None = None

    @staticmethod
    def _child_env(notebook_dir: Path) -> dict[str, str]:
        env = {k: os.environ[k] for k in KEPT_ENV_VARS if k in os.environ}
        env.update(ONE_THREAD_ENV)
        env.update(
            PYTHONPATH=str(PACKAGE_DIR.parent),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1",
            PYTHONIOENCODING="utf-8",
            PYTHONHASHSEED="0",
            MPLBACKEND="Agg",
        )
        env[NOTEBOOK_DIR_ENV_VAR] = str(notebook_dir)
        env[LANG_ENV_VAR] = language()  # the child's messages (learner.describe_exception) follow --lang
        return env

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> "SandboxedLearner":
        """Start the child and let it execute the cells while the caller does other work."""
        if self._child is None and self._broken is None:
            if self._budget_end is None:
                self._budget_end = time.monotonic() + self.limits.budget
            self._child = _Child(self._config, self._env, self._output, self.limits, self.mounts, self.warm)
            self._child.budget_end = self._budget_end
            cells = [[i, s] for i, s in self._cells if i not in self._skipped]
            labels = [[i, label] for i, label in self.notebook.code_cell_labels().items()]
            self._child.send({"op": "exec", "cells": cells, "filename": Path(self.notebook.path).name, "labels": labels})
        return self

    def close(self) -> None:
        """End the child, if any, and remove its working directory."""
        if self._child is not None:
            self._child.close()
            self._child = None

    def __enter__(self) -> "SandboxedLearner":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _drop_child(self) -> str:
        assert self._child is not None
        how = self._child.close()
        self._child = None
        return how

    def _ready(self) -> _Child:
        """A child that has executed the cells, restarting (and skipping the cell to blame)
        as often as needed."""
        for _attempt in range(len(self._cells) + 2):
            if self._broken is not None:
                break
            self.start()
            child = self._child
            assert child is not None
            if child.ready:
                return child
            try:
                reply = child.receive(None)
                errors = _cell_errors(reply.get("errors"), {i for i, _ in self._cells})
                callables = reply.get("callables")
                if reply.get("status") != "done" or errors is None or not _strings(callables):
                    raise codec.CodecError("a malformed reply")
            except (_Timeout, _Died, codec.CodecError) as failure:
                cell, started = child.current_cell, child.cells_started
                how = self._drop_child()
                if isinstance(failure, _Died):
                    how = failure.how
                if isinstance(failure, _Timeout) and self._budget_spent():
                    if cell is None:  # still starting: blame the first cell not yet skipped
                        cell = next((i for i, _ in self._cells if i not in self._skipped), None)
                    if cell is not None:
                        self._skipped[cell] = _("cell {number}: still running when the notebook's time budget ran out; skipped when grading").format(number=cell)
                    self._broken = self._budget_message()
                    if self._cell_errors is None:
                        self._cell_errors = sorted(self._skipped.values(), key=_cell_number)
                    break
                if not started:
                    reason = _("within {seconds} s").format(seconds=f"{self.limits.startup_timeout:g}") if isinstance(failure, _Timeout) else f"({how})"
                    raise SandboxError(_("the sandbox process did not start {reason}: {output}").format(reason=reason, output=self.output_tail() or _("no output")))
                if cell is None:
                    self._broken = _("your notebook's code stops the Python process after its cells ran ({how})").format(how=how)
                    break
                if isinstance(failure, _Timeout):
                    self._skipped[cell] = _("cell {number}: did not finish within {seconds} s; skipped when grading (look for an infinite loop)").format(number=cell, seconds=f"{self.limits.exec_timeout:g}")
                else:
                    self._skipped[cell] = _("cell {number}: ended the Python process ({how}); skipped when grading").format(number=cell, how=how)
                continue
            child.ready = True
            self._kernel_guard = child.kernel_guard
            self._callables = frozenset(callables)
            if self._cell_errors is None:
                self._cell_errors = sorted(list(self._skipped.values()) + list(errors), key=_cell_number)
                self._setup_forbidden = list(child.forbidden)
            child.forbidden.clear()
            return child
        if self._broken is None:
            self._broken = _("your notebook's code keeps stopping the Python process")
        raise LearnerError(self._broken)

    # -- what the engine reports ----------------------------------------------------------

    @property
    def cell_errors(self) -> list[str]:
        """One line per cell that raised, hung or ended the process, as in nbgrader."""
        if self._cell_errors is None:
            try:
                self._ready()
            except LearnerError:
                pass
        return list(self._cell_errors or [])

    @property
    def forbidden_imports(self) -> list[str]:
        """Forbidden modules the cells tried to import (prefixes, e.g. ``["torch"]``)."""
        self.cell_errors  # noqa: B018 - make sure the cells ran
        return sorted({self._prefix(m) for m in self._setup_forbidden})

    @property
    def kernel_guard(self) -> int:
        """The Landlock ABI enforcing the file rules in the kernel, or 0 (audit hook only)."""
        self.cell_errors  # noqa: B018 - make sure a child has started
        return self._kernel_guard

    @property
    def isolation(self) -> str:
        """``"bwrap"`` (namespaces, the boundary) or ``"guards"`` (audit hook and Landlock only)."""
        return "guards" if self.mounts is None else "bwrap"

    @property
    def output(self) -> str:
        """What the learner's code printed (start and end, when long)."""
        return self._output.text()

    def output_tail(self, lines: int = 5) -> str:
        return " | ".join(self._output.text().strip().splitlines()[-lines:])

    def _prefix(self, module: str) -> str:
        for prefix in self.forbidden_modules:
            if module == prefix or module.startswith(prefix + "."):
                return prefix
        return module

    # -- the Learner protocol -----------------------------------------------------------

    def _request(self, name: str, request: dict[str, Any], standins: Mapping[str, Any] | None = None) -> Any:
        try:
            child = self._ready()
        except LearnerError as failure:
            raise LearnerError(_("{name} could not be called: {problem}").format(name=name, problem=failure)) from None
        child.standins = dict(standins or {})
        try:
            return self._exchange(child, name, request)
        finally:
            child.standins = {}

    def _exchange(self, child: _Child, name: str, request: dict[str, Any]) -> Any:
        try:
            child.send(request)
        except codec.CodecError as exc:  # the check sent something the wire cannot carry
            raise SandboxError(_("cannot send the arguments of {name}: {problem}").format(name=name, problem=exc)) from None
        try:
            reply = child.receive(time.monotonic() + self.limits.call_timeout)
        except _Timeout:
            self._drop_child()
            if self._budget_spent():
                self._broken = self._budget_message()
                raise LearnerError(_("{name} could not finish: {problem}").format(name=name, problem=self._broken)) from None
            raise LearnerError(
                _("{name} did not finish within {seconds} s: look for an infinite loop, or a loop that is far too slow.").format(name=name, seconds=f"{self.limits.call_timeout:g}")
            ) from None
        except _Died as died:
            forbidden = list(child.forbidden)
            self._drop_child()
            self._raise_if_forbidden(name, forbidden)
            raise LearnerError(_("{name} crashed the Python process ({how}); a graded function must return a value.").format(name=name, how=died.how)) from None
        except codec.CodecError as exc:
            self._drop_child()
            raise LearnerError(_("{name}: the sandbox received {problem}; the check cannot run.").format(name=name, problem=exc)) from None
        forbidden = list(child.forbidden)
        child.forbidden.clear()
        self._raise_if_forbidden(name, forbidden)
        status = reply.get("status")
        if status == "ok" and "value" in reply:
            return reply["value"]
        message = reply.get("message")
        if status != "error" or not isinstance(message, str):
            self._drop_child()
            raise LearnerError(_("{name}: the sandbox received a malformed reply; the check cannot run.").format(name=name))
        message = _capped(message)
        if self._setup_forbidden and reply.get("exception") in ("NameError", "ImportError", "ModuleNotFoundError"):
            message += " " + _("(Your notebook imports {modules}, which {rule}.)").format(modules=", ".join(self.forbidden_imports), rule=self.forbidden_rule)
        exception = reply.get("exception")
        raise LearnerError(message, exception if isinstance(exception, str) else None)

    def _budget_spent(self) -> bool:
        return self._budget_end is not None and time.monotonic() >= self._budget_end

    def _budget_message(self) -> str:
        return _("the notebook used up its time budget of {seconds} s (its cells and all calls together), so the remaining checks cannot run; look for infinite loops or very slow code").format(seconds=f"{self.limits.budget:g}")

    def _raise_if_forbidden(self, name: str, modules: Sequence[str]) -> None:
        if modules:
            raise LearnerError(_("{name} uses {module}, which {rule}.").format(name=name, module=self._prefix(modules[0]), rule=self.forbidden_rule))

    def _call(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any], standins: Mapping[str, Any] | None = None, **options: Any) -> Any:
        request = {"op": "call", "name": name, "args": tuple(args), "kwargs": dict(kwargs), **options}
        if standins:
            request["standins"] = list(standins)
            if self._standins_in_child:
                request["standins_in_child"] = True
        return self._request(name, request, standins)

    def has(self, name: str) -> bool:
        try:
            self._ready()
        except LearnerError:
            return False
        return name in self._callables

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    def call_with_standins(self, name: str, replaced: Iterable[str], *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs, standins_for(tuple(replaced), name))

    def call_and_summarize(self, name: str, *args: Any, input_shape: Sequence[int] | None = None, weights_seed: int | None = None, **kwargs: Any) -> dict[str, Any]:
        post_kwargs = {"input_shape": tuple(input_shape) if input_shape is not None else None, "weights_seed": weights_seed}
        return self._call(name, args, kwargs, postprocess="module_summary", post_kwargs=post_kwargs)

    def call_numpy_only(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs, postprocess="numpy_only")

    def time_call(self, name: str, *args: Any, repeats: int = 7, **kwargs: Any) -> list[float]:
        return wall_times(lambda: self._call(name, args, kwargs, discard=True), repeats)

    def drive(self, name: str, driver: str, **kwargs: Any) -> Any:
        return self._call(name, (), kwargs, driver=driver)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _cell_number(line: str) -> int:
    """The cell a line is about: its first number (``cell 7: ...``, ``单元格 7：...``)."""
    found = re.match(r"\D*?(\d+)", line.split(":", 1)[0].split("：", 1)[0])
    return int(found[1]) if found else -1


MESSAGE_CHARS = 2000
MESSAGE_LINES = 20
_EXCEPTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,80}")


def _capped(text: str, chars: int = MESSAGE_CHARS, lines: int = MESSAGE_LINES) -> str:
    """A learner-controlled message cut to ``chars`` characters and ``lines`` lines."""
    kept = text[: chars + 1].split("\n", lines)
    text = "\n".join(kept[:lines])
    return text if len(text) <= chars and len(kept) <= lines else text[:chars] + " … " + _("[cut]")


def _cell_errors(entries: Any, sent: set[int]) -> list[str] | None:
    """The child's cell errors rebuilt by the parent: only ``[index, "Type: message"]`` pairs
    whose index is one the parent sent count; ``None`` when the reply is malformed."""
    if not isinstance(entries, list):
        return None
    lines = []
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int and entry[0] in sent and isinstance(entry[1], str)):
            return None
        kind, _sep, message = entry[1].partition(": ")
        if not _EXCEPTION_NAME.fullmatch(kind):
            kind, message = "error", entry[1]
        lines.append(_("cell {number}: {type}: {problem}").format(number=entry[0], type=kind, problem=_capped(message, 300, 1)))
    return lines
