"""The child side of :mod:`autograder.sandbox`: run learner code behind an audit hook.

Started as ``python -m autograder._sandbox_worker REQUEST_FD REPLY_FD`` with file descriptors 1
and 2 pointing at a pipe the parent truncates. It reads frames of :mod:`autograder.codec` from
``REQUEST_FD`` and answers on ``REPLY_FD``:

1. ``{"op": "config", ...}``: resource limits, the guard's policy, modules to preload; an
   ``{"event": "ready"}`` frame says when they are in place;
2. ``{"op": "exec", "cells": [[index, source], ...]}``: run the cells, reply with the cell
   errors and the names of the callables they defined (an ``{"event": "cell"}`` frame goes out
   before each cell, so the parent knows which cell hung or crashed);
3. ``{"op": "call", "name", "args", "kwargs", ...}``: call a function, reply with its value or
   a one-line error.

The guard (:func:`install_guard`) is an audit hook, which learner code cannot remove. It refuses
network access, new processes, signals to other processes, changed resource limits, writes
outside the working directory, reads below ``deny_read``, and imports of the forbidden modules;
each forbidden import is also reported to the parent at once as an ``{"event": "forbidden"}``
frame. After setup a second hook refuses ctypes and the garbage collector's object lists, so
the first hook's policy cannot be reached. This stops accidents and casual cheating; it is not
a security boundary (see the README's threat model).
"""

from __future__ import annotations

import os
import resource
import sys
import traceback
import types
from contextlib import ExitStack, nullcontext
from typing import Any, Callable, Iterable

from autograder import codec, i18n
from autograder.i18n import _
from autograder.learner import POSTPROCESS_CONTEXTS, POSTPROCESSORS, call_learner, describe_exception, describe_missing, functions_swapped_in, resolve_markers, run_driver
from autograder.notebook import Cell, execute_cells

NETWORK_EVENTS = frozenset({
    "socket.__new__", "socket.bind", "socket.connect", "socket.getaddrinfo", "socket.gethostbyaddr",
    "socket.gethostbyname", "socket.gethostbyname_ex", "socket.getnameinfo", "socket.sendmsg",
    "socket.sendto", "socket.sethostname", "ftplib.connect", "smtplib.connect", "poplib.connect",
    "imaplib.open", "nntplib.connect", "webbrowser.open",
})
PROCESS_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.startfile", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
    "resource.setrlimit", "resource.prlimit",
})
# event -> (positions of the paths it writes to, positions of directory descriptors)
WRITE_EVENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "open": ((0,), ()), "os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.mkdir": ((0,), (2,)),
    "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)), "os.truncate": ((0,), ()), "os.utime": ((0,), (3,)),
    "os.rename": ((0, 1), (2, 3)), "os.setxattr": ((0,), ()), "os.removexattr": ((0,), ()),
    "os.chflags": ((0,), ()), "os.lchflags": ((0,), ()), "os.lchmod": ((0,), ()),
    "shutil.rmtree": ((0,), (1,)), "shutil.copyfile": ((1,), ()), "shutil.copymode": ((1,), ()),
    "shutil.copystat": ((1,), ()), "shutil.copytree": ((1,), ()), "shutil.move": ((0, 1), ()),
    "shutil.chown": ((0,), ()), "shutil.unpack_archive": ((1,), ()), "shutil.make_archive": ((0,), ()),
    "tempfile.mkstemp": ((0,), ()), "tempfile.mkdtemp": ((0,), ()), "sqlite3.connect": ((0,), ()),
}
# links inside the sandbox could point at, or share an inode with, files outside it
ALWAYS_REFUSED = frozenset({"os.symlink", "os.link"})
AFTER_SETUP_EVENTS = frozenset({
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.cdata", "ctypes.cdata/buffer",
    "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at", "ctypes.call_function",
    "ctypes.PyObj_FromPtr", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
})
WRITABLE_DEVICES = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def install_guard(
    *,
    root: str,
    forbidden_modules: Iterable[str] = (),
    deny_read: Iterable[str] = (),
    allow_read: Iterable[str] = (),
    event_fd: int | None = None,
) -> Callable[[], None]:
    """Install the audit hook that keeps learner code inside ``root``.

    Everything the hook uses is bound here, so patching ``os``, ``os.path`` or this module
    afterwards does not change its decisions.

    Args:
        root: the only directory (an absolute, symlink-free path) that may be written to.
        forbidden_modules: module prefixes whose import is refused and reported.
        deny_read: directories that may not be read ...
        allow_read: ... except these subdirectories.
        event_fd: where ``{"event": "forbidden", "module": ...}`` frames go.

    Returns:
        ``lock()``: installs the second hook, refusing ctypes and the gc's object lists; call it
        once trusted setup (imports that need ctypes, such as torch) is done.
    """
    root = root.rstrip("/")
    forbidden = tuple(forbidden_modules)
    denied = tuple(p.rstrip("/") for p in deny_read)
    allowed = tuple(p.rstrip("/") for p in allow_read)
    getcwd, fspath, write, realpath = os.getcwd, os.fspath, os.write, os.path.realpath
    str_type, bytes_type, int_type, tuple_type = str, bytes, int, tuple
    isinstance_, len_ = isinstance, len
    write_events, network, process, always = dict(WRITE_EVENTS), NETWORK_EVENTS, PROCESS_EVENTS, ALWAYS_REFUSED
    devices, write_flags, name_chars = WRITABLE_DEVICES, _WRITE_FLAGS, _NAME_CHARS
    # the messages, translated now: the hook must not call into patchable Python code later
    no_relative_write = _("sandbox: writing relative to a directory descriptor is not allowed")
    no_outside_write = _("sandbox: writing outside the working directory is not allowed ({target})")
    no_read = _("sandbox: reading {target} is not allowed")
    no_import = _("sandbox: importing {module} is not allowed here")
    no_network = _("sandbox: network access is not allowed ({event})")
    no_process = _("sandbox: starting or signalling processes is not allowed ({event})")
    no_event = _("sandbox: {event} is not allowed")
    no_start = _("sandbox: starting processes is not allowed")

    def text_of(path: Any) -> str | None:
        if path is None or isinstance_(path, int_type):
            return None  # an open file descriptor, or no path
        text = fspath(path)
        return text.decode("utf-8", "surrogateescape") if isinstance_(text, bytes_type) else text

    def absolute(path: Any) -> str | None:
        text = text_of(path)
        if text is None:
            return None
        if not text.startswith("/"):
            text = getcwd() + "/" + text
        parts: list[str] = []
        for part in text.split("/"):
            if part == "..":
                if parts:
                    parts.pop()
            elif part and part != ".":
                parts.append(part)
        return "/" + "/".join(parts)

    def inside(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder + "/")

    def check_write(path: Any, dir_fd: Any) -> None:
        target = absolute(path)
        if target is None:
            return
        if dir_fd is not None and not text_of(path).startswith("/"):
            raise PermissionError(no_relative_write)
        if target in devices or inside(target, root):
            return
        raise PermissionError(no_outside_write.format(target=target))

    def check_read(path: Any) -> None:
        if not denied:
            return
        target = absolute(path)
        if target is None:
            return
        for candidate in (target, realpath(target)):
            if any(inside(candidate, d) for d in denied) and not any(inside(candidate, a) for a in allowed):
                raise PermissionError(no_read.format(target=target))

    def report_forbidden(module: str) -> None:
        if event_fd is None:
            return
        name = "".join(c if c in name_chars else "?" for c in module)
        header = ('{"body":["dict",[["event",["str","forbidden"]],["module",["str","' + name + '"]]]],"blobs":[]}').encode()
        payload = len_(header).to_bytes(4, "big") + header
        try:
            write(event_fd, len_(payload).to_bytes(8, "big") + payload)
        except OSError:
            pass

    def guard(event: str, args: tuple_type) -> None:
        if event == "open":
            path, mode, flags = args
            writing = (flags & write_flags) if isinstance_(flags, int_type) else any(c in str_type(mode) for c in "wax+")
            if writing:
                check_write(path, None)
            else:
                check_read(path)
        elif event == "import":
            module = args[0]
            if isinstance_(module, str_type):
                for prefix in forbidden:
                    if module == prefix or module.startswith(prefix + "."):
                        report_forbidden(module)
                        raise ImportError(no_import.format(module=module))
        elif event in write_events:
            paths, dir_fds = write_events[event]
            dir_fd = next((args[i] for i in dir_fds if i < len_(args) and args[i] is not None and args[i] != -1), None)  # -1: none
            for position in paths:
                if position < len_(args):
                    check_write(args[position], dir_fd)
        elif event in network:
            raise PermissionError(no_network.format(event=event))
        elif event in process:
            raise PermissionError(no_process.format(event=event))
        elif event in always:
            raise PermissionError(no_event.format(event=event))

    sys.addaudithook(guard)

    def lock() -> None:
        after_setup = AFTER_SETUP_EVENTS

        def locked(event: str, args: tuple) -> None:
            if event in after_setup:
                raise PermissionError(no_event.format(event=event))
            if event == "import" and args[0] == "_posixsubprocess":
                raise ImportError(no_start)

        sys.addaudithook(locked)

    return lock


_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446  # all architectures
_FS_RIGHTS = ("execute", "write_file", "read_file", "read_dir", "remove_dir", "remove_file", "make_char", "make_dir",
              "make_reg", "make_sock", "make_fifo", "make_block", "make_sym", "refer", "truncate", "ioctl_dev")
FS = {name: 1 << bit for bit, name in enumerate(_FS_RIGHTS)}


def restrict_filesystem(root: str, deny_read: Iterable[str] = (), allow_read: Iterable[str] = ()) -> int:
    """The guard's file rules, enforced by the kernel with Landlock (Linux 5.13 and later), so
    that code writing files from C (``ndarray.tofile``, ``torch.save``, Rust) obeys them too:
    writes only below ``root`` (and ``/dev/null``), no reading below ``deny_read`` except
    ``allow_read``, and, where the kernel's Landlock is recent enough, no TCP and no signals
    to other processes.

    Returns:
        The Landlock ABI version in force, or 0 where Landlock is unavailable (the audit hook
        alone then guards).
    """
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes
    import stat

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # 1: ask the version
    if abi < 1:
        return 0
    write = sum(FS[r] for r in ("write_file", "remove_dir", "remove_file", "make_char", "make_dir", "make_reg", "make_sock", "make_fifo", "make_block", "make_sym"))
    write |= (FS["refer"] if abi >= 2 else 0) | (FS["truncate"] if abi >= 3 else 0)
    denied = tuple(d.rstrip("/") for d in deny_read)
    read = FS["read_file"] | FS["read_dir"] if denied else 0
    file_rights = FS["execute"] | FS["write_file"] | FS["read_file"] | FS["truncate"] | FS["ioctl_dev"]

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    net = 0b11 if abi >= 4 else 0  # bind and connect TCP
    scoped = 0b11 if abi >= 6 else 0  # abstract unix sockets and signals outside this process
    attr = RulesetAttr(write | read, net, scoped)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return 0

    def allow(path: str, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= file_rights
            if rights:
                libc.syscall(_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(PathBeneath(rights, fd)), ctypes.c_uint32(0))
        finally:
            os.close(fd)

    def grant_reads(directory: str) -> None:
        # read access everywhere but below the denied folders: Landlock only adds rights, so
        # grant each sibling along the way down to a denied folder
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            path = entry.path if directory != "/" else "/" + entry.name
            if entry.is_symlink() or path in denied:
                continue  # a link is checked where it leads
            if any(d.startswith(path + "/") for d in denied):
                if entry.is_dir(follow_symlinks=False):
                    grant_reads(path)
            else:
                allow(path, read)

    try:
        allow(root, write | read)
        allow("/dev/null", FS["write_file"] | FS["truncate"] if abi >= 3 else FS["write_file"])
        if denied:
            allow("/", FS["read_dir"])  # names stay listable everywhere; contents do not
            grant_reads("/")
            for path in allow_read:
                allow(path, read)
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS, required to restrict an unprivileged process
        if libc.syscall(_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return 0
    finally:
        os.close(ruleset)
    return abi


def _die_with_parent(parent_pid: int | None) -> None:
    # an orphan stuck in a learner's infinite loop would otherwise spin forever
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent is already gone


def _disable_fork_exec() -> None:
    # subprocess raises its audit event in Python, then calls this C function; make a direct
    # call fail too (the lock refuses importing the module afresh).
    try:
        import _posixsubprocess
    except ImportError:
        return

    message = _("sandbox: starting processes is not allowed")

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(message)

    _posixsubprocess.fork_exec = refused  # type: ignore[attr-defined]


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks, remaining = [], n
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> Any:
    """The next request, or ``None`` when the parent closed the pipe."""
    prefix = _read_exactly(fd, codec.PREFIX_BYTES)
    if prefix is None:
        return None
    payload = _read_exactly(fd, codec.frame_length(prefix))
    return None if payload is None else codec.decode_payload(payload)


def send(fd: int, value: Any) -> None:
    """Write one frame (``value`` itself, or bytes already encoded)."""
    data = memoryview(value if isinstance(value, bytes) else codec.encode(value))
    while data:
        data = data[os.write(fd, data) :]


def _limit(kind: int, value: int | None) -> None:
    if value:
        resource.setrlimit(kind, (value, value))


class Worker:
    """Holds the learner's namespace and answers requests."""

    def __init__(self, request_fd: int, reply_fd: int) -> None:
        self.request_fd = request_fd
        self.reply_fd = reply_fd
        self.module = types.ModuleType("__main__")
        self.namespace: dict[str, Any] = self.module.__dict__

    def exec_cells(self, cells: list[list[Any]], filename: str, labels: dict[int, str]) -> dict[str, Any]:
        sys.modules["__main__"] = self.module  # as in Jupyter, `import __main__` is the notebook
        errors: list[list[Any]] = []  # [cell index, "Type: message"]; the parent rebuilds the lines
        for index, source in cells:
            send(self.reply_fd, {"event": "cell", "index": index})
            try:
                errors += [[index, line.split(": ", 1)[-1]] for line in execute_cells([Cell(index, "code", source, {}, labels.get(index, ""))], self.namespace, filename)]
            except BaseException as exc:  # noqa: BLE001 - sys.exit and friends end the cell only
                errors.append([index, f"{type(exc).__name__}: {exc}"])
        send(self.reply_fd, {"event": "cell", "index": None})
        callables = sorted(k for k, v in list(self.namespace.items()) if isinstance(k, str) and callable(v))
        return {"status": "done", "errors": errors, "callables": callables}

    def standin(self, name: str, in_child: bool = False) -> Callable[..., Any]:
        """The NumPy stand-in itself where the grader asks for it (``in_child``: 06, which grades
        none of the functions they stand in for), the torch-backed stand-in where torch is
        allowed and loaded (05), else a proxy."""
        if in_child:
            from autograder.isolation.standins import STANDINS

            if name in STANDINS:
                return STANDINS[name]
        if "torch" in sys.modules:
            try:
                from autograder.isolation.torch_standins import TORCH_STANDINS
            except ImportError:
                TORCH_STANDINS = {}
            if name in TORCH_STANDINS:
                return TORCH_STANDINS[name]
        return self.standin_proxy(name)

    def standin_proxy(self, name: str) -> Callable[..., Any]:
        """A function that asks the parent for the result of the grader's stand-in ``name``
        (the stand-ins themselves never enter the sandbox; the parent answers only while the
        current call swaps ``name`` in)."""
        request_fd, reply_fd = self.request_fd, self.reply_fd
        errors = {"TypeError": TypeError, "ValueError": ValueError}

        def standin(*args: Any, **kwargs: Any) -> Any:
            try:
                frame = codec.encode({"event": "standin", "name": name, "args": args, "kwargs": kwargs})
            except codec.CodecError as exc:
                raise TypeError(f"{name} (the grader's stand-in) cannot take {exc}") from None
            send(reply_fd, frame)
            reply = receive(request_fd)
            if not isinstance(reply, dict):
                raise RuntimeError("the grader did not answer")
            if reply.get("status") == "ok":
                return reply.get("value")
            raise errors.get(reply.get("exception"), RuntimeError)(reply.get("message"))

        standin.__name__ = standin.__qualname__ = name
        return standin

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["name"]
        with ExitStack() as stack:
            in_child = request.get("standins_in_child") is True
            standins = {n: self.standin(n, in_child) for n in request.get("standins") or () if isinstance(n, str)}
            stack.enter_context(functions_swapped_in(self.namespace, standins))
            func = self.namespace.get(name)
            if not callable(func):
                return {"status": "error", "message": describe_missing(name, self.namespace)}
            try:
                postprocess = request.get("postprocess")
                context = POSTPROCESS_CONTEXTS[postprocess]() if postprocess in POSTPROCESS_CONTEXTS else nullcontext()
                if isinstance(request.get("driver"), str):
                    value = run_driver(func, self.namespace, request["driver"], resolve_markers(request["kwargs"]))
                else:
                    with context:
                        value = call_learner(name, func, resolve_markers(request["args"]), resolve_markers(request["kwargs"]))
                if postprocess:
                    value = POSTPROCESSORS[postprocess](value, **request.get("post_kwargs", {}))
            except BaseException as exc:  # noqa: BLE001 - any learner failure becomes a message
                tb = _learner_frames(exc) if isinstance(exc, Exception) else None
                return {"status": "error", "message": describe_exception(name, exc, tb), "exception": type(exc).__name__}
        return {"status": "ok", "value": None if request.get("discard") else value}


def reply_frame(reply: dict[str, Any], name: str) -> bytes:
    """The encoded reply; a value the wire cannot carry becomes an error reply."""
    try:
        return codec.encode(reply)
    except codec.CodecError:
        try:
            codec.encode(reply.get("value"))  # again, for a message that names the value's parts
        except codec.CodecError as exc:
            return codec.encode({"status": "error", "message": _("{name} returned {problem}.").format(name=name, problem=exc)})
        return codec.encode({"status": "error", "message": _("the reply of {name} cannot be sent.").format(name=name)})
    except BaseException as exc:  # noqa: BLE001 - a hostile value must not kill the worker
        return codec.encode({"status": "error", "message": _("{name} returned a value that cannot be sent ({type}).").format(name=name, type=type(exc).__name__)})



def _learner_frames(exc: BaseException) -> traceback.StackSummary:
    """The traceback without this module's frames (the call above, the guard below), so the
    message points at the learner's line as it does in-process."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return traceback.StackSummary.from_list(frames)


def main(argv: list[str]) -> int:
    request_fd, reply_fd = int(argv[0]), int(argv[1])
    config = receive(request_fd)
    if not isinstance(config, dict) or config.get("op") != "config":
        return 2
    return serve(config, request_fd, reply_fd)


def serve(config: dict[str, Any], request_fd: int, reply_fd: int) -> int:
    """Limit this process as ``config`` says, then run the cells and answer calls until the
    parent closes the pipe (a cold child, and each fork of a warm template,
    :mod:`autograder.isolation.template`, run exactly this)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if hasattr(resource, "RLIMIT_MSGQUEUE"):  # no POSIX message queue can outlive the notebook
        resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    _limit(resource.RLIMIT_AS, config.get("memory_bytes"))
    _limit(resource.RLIMIT_FSIZE, config.get("file_bytes"))
    if config.get("cpu_seconds"):
        resource.setrlimit(resource.RLIMIT_CPU, (config["cpu_seconds"], config["cpu_seconds"] + 5))
    _die_with_parent(config.get("parent_pid"))
    sys.dont_write_bytecode = True
    i18n.catalog("autograder", i18n.language())  # read the messages' catalog before the guards close the files
    lock = install_guard(
        root=config["root"],
        forbidden_modules=config.get("forbidden_modules", ()),
        deny_read=config.get("deny_read", ()),
        allow_read=config.get("allow_read", ()),
        event_fd=reply_fd,
    )
    for module in config.get("preload", ()):
        __import__(module)
    _disable_fork_exec()
    kernel_guard = restrict_filesystem(config["root"], config.get("deny_read", ()), config.get("allow_read", ())) if config.get("landlock", True) else 0
    lock()
    worker = Worker(request_fd, reply_fd)
    send(reply_fd, {"event": "ready", "kernel_guard": kernel_guard})  # the cells' time limit starts now
    while True:
        request = receive(request_fd)
        if request is None:
            return 0
        if request.get("op") == "exec":
            reply = worker.exec_cells(request["cells"], request.get("filename", "notebook"), dict(request.get("labels") or []))
        elif request.get("op") == "call":
            reply = reply_frame(worker.call(request), request["name"])
        else:
            reply = {"status": "error", "message": f"unknown request {request.get('op')!r}"}
        send(reply_fd, reply)


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
