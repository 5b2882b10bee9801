"""The sandbox: the safe wire format, and learner code running in a limited child process.

Synthetic notebooks only (built in memory), so these tests know nothing about the course's
assignments, as the sandbox itself does not.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autograder import codec
from autograder.learner import InProcessLearner, LearnerError, Probe, SeededRng
from autograder.notebook import execute_cells
from autograder.sandbox import GIB, MIB, Limits, SandboxedLearner, SandboxError

from hostile import synthetic

# one worker runs the timing-sensitive sandbox tests and the CPU-hog test one after another
pytestmark = pytest.mark.xdist_group("sandbox-timing")

FAST = Limits(call_timeout=2, exec_timeout=3, memory_bytes=1 * GIB)


@pytest.fixture
def sandbox():
    """``sandbox(cells, **options)`` -> a started SandboxedLearner, closed after the test."""
    made: list[SandboxedLearner] = []

    def make(cells: list[str], **options) -> SandboxedLearner:
        options.setdefault("limits", FAST)
        learner = SandboxedLearner(synthetic(cells), **options).start()
        made.append(learner)
        return learner

    yield make
    for learner in made:
        learner.close()


# -- codec --------------------------------------------------------------------------------


def round_trip(value):
    return codec.decode(codec.encode(value))


@pytest.mark.parametrize(
    "value",
    [
        None, True, False, 0, -7, 2**80, 1.5, -0.0, float("inf"), 1 / 3, 2 + 3j, "", "ünïcode ✓",
        (1, [2, (3,)], {"a": [None]}), [], (), {"k": (1.0, "x")},
        SeededRng(7), Probe("weighted_cubic"),
    ],
)
def test_codec_round_trips_plain_values_exactly_and_keeps_tuples_apart_from_lists(value):
    got = round_trip(value)
    assert got == value and type(got) is type(value)
    assert repr(got) == repr(value)


def test_codec_round_trips_nan():
    assert np.isnan(round_trip(float("nan")))


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12.0).reshape(3, 4),
        np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
        np.arange(10)[::3],
        np.array(2.5, dtype=np.float32),
        np.zeros((0, 3)),
        np.array([True, False]),
        np.array([1 + 2j], dtype=np.complex64),
        np.arange(4, dtype=np.uint8),
    ],
)
def test_codec_round_trips_numeric_arrays_with_dtype_and_shape(array):
    got = round_trip(array)
    assert type(got) is np.ndarray and got.dtype == array.dtype and got.shape == array.shape
    assert np.array_equal(got, array)
    got.flat[:1] = 0  # received arrays are writable copies


@pytest.mark.parametrize("scalar", [np.float64(1.25), np.float32(2.5), np.int64(-3), np.bool_(True)])
def test_codec_keeps_numpy_scalar_types(scalar):
    got = round_trip(scalar)
    assert type(got) is type(scalar) and got == scalar


@pytest.mark.parametrize(
    "value, words",
    [
        ((i for i in range(3)), "a generator, which cannot be graded; return a NumPy array"),
        ({1, 2}, "a set, which cannot be graded"),
        (np.array([object()]), "dtype object, which cannot be graded"),
        (np.array(["a"]), "dtype <U1, which cannot be graded"),
        ({1: 2}, "a dict with a int key"),
        ([1, lambda: 0], "(at [1])"),
        (type("Tensor", (), {"__module__": "torch"})(), "a torch.Tensor, which cannot be graded; return a NumPy array"),
    ],
)
def test_codec_rejects_what_cannot_be_graded_with_a_clear_message(value, words):
    with pytest.raises(codec.CodecError, match=None) as info:
        codec.encode(value)
    assert words in str(info.value)


def test_codec_never_unpickles_an_object_array():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    header = b'{"body":["ndarray",0],"blobs":[%d]}' % len(buffer.getvalue())
    payload = len(header).to_bytes(4, "big") + header + buffer.getvalue()
    with pytest.raises(codec.CodecError, match="dtype object"):
        codec.decode_payload(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00\x00\x00\x05{}",
        (3).to_bytes(4, "big") + b"{x}",
        (24).to_bytes(4, "big") + b'{"body":["evil"],"blobs":[]}'[:24],
        (28).to_bytes(4, "big") + b'{"body":["int",1.5],"blobs":[]}'[:28],
        (30).to_bytes(4, "big") + b'{"body":["ndarray",0],"blobs":[9]}'[:30] + b"12345",
    ],
)
def test_codec_rejects_malformed_payloads(payload):
    with pytest.raises(codec.CodecError):
        codec.decode_payload(payload)


def test_codec_refuses_frames_above_the_size_limit():
    with pytest.raises(codec.CodecError, match="larger than"):
        codec.frame_length((codec.MAX_FRAME_BYTES + 1).to_bytes(8, "big"))


# -- calling learner code -----------------------------------------------------------------


def test_calls_a_function_with_arrays_keywords_and_markers(sandbox):
    learner = sandbox(["import numpy as np", "def f(x, rng, scale=1):\n    return x * scale + rng.standard_normal(x.shape)"])
    got = learner.call("f", np.zeros(3), SeededRng(4), scale=2)
    assert np.array_equal(got, np.random.default_rng(4).standard_normal(3))
    assert learner.has("f") and not learner.has("g") and not learner.has("np")


def test_probe_markers_arrive_as_functions(sandbox):
    learner = sandbox(["def apply(fn, x):\n    return fn(x)"])
    x = np.linspace(-1, 1, 4)
    assert learner.call("apply", Probe("softplus_sum"), x) == pytest.approx(float(np.sum(np.log1p(np.exp(x)))))


def test_failure_messages_match_the_in_process_learner(sandbox):
    cells = ["def todo(x):\n    raise NotImplementedError()", "def bad(x):\n    y = x + 1\n    return y[5]", "def quits(x):\n    raise SystemExit(3)"]
    learner = sandbox(cells)
    namespace: dict = {}
    execute_cells(synthetic(cells).learner_code(), namespace, "synthetic.ipynb")
    in_process = InProcessLearner(namespace)
    for name in ("todo", "bad", "quits", "missing"):
        with pytest.raises(LearnerError) as sandboxed:
            learner.call(name, np.zeros(2))
        with pytest.raises(LearnerError) as expected:
            in_process.call(name, np.zeros(2))
        assert str(sandboxed.value) == str(expected.value)


def test_an_exception_message_quotes_the_learners_line(sandbox):
    learner = sandbox(["def bad(x):\n    return x.reshape(7)"])
    with pytest.raises(LearnerError, match=r"bad raised ValueError: .* \(code cell 1 of 1, line 2: `return x.reshape\(7\)`\)"):
        learner.call("bad", np.zeros(3))


def test_a_value_that_cannot_be_graded_is_a_clear_error(sandbox):
    learner = sandbox(["def gen():\n    return (i for i in range(2))"])
    with pytest.raises(LearnerError, match="gen returned a generator, which cannot be graded; return a NumPy array"):
        learner.call("gen")


def test_arguments_reach_the_learner_as_copies(sandbox):
    learner = sandbox(["def clobber(x):\n    x[:] = 0\n    return x.sum()"])
    x = np.ones(3)
    with pytest.raises(LearnerError, match="clobber changed its argument x in place"):
        learner.call("clobber", x)
    assert x.sum() == 3


def test_time_call_is_measured_by_the_parent(sandbox):
    learner = sandbox(["import time\ndef nap():\n    time.sleep(0.02)"])
    times = learner.time_call("nap", repeats=3)
    assert len(times) == 3 and all(0.02 <= t < 1 for t in times)


# -- cells ----------------------------------------------------------------------------------


def test_cell_errors_are_recorded_and_later_cells_still_run(sandbox):
    learner = sandbox(["1 / 0", "def f():\n    return 1", "def broken(:\n    pass", "import sys\nsys.exit(2)"])
    assert learner.call("f") == 1
    assert learner.cell_errors == ["cell 0: ZeroDivisionError: division by zero", learner.cell_errors[1], "cell 3: SystemExit: 2"]
    assert learner.cell_errors[1].startswith("cell 2: SyntaxError")


IPYTHON_CELLS = [
    "%matplotlib inline\nimport numpy as np\n!pip install nothing\nlisting = !ls /\n%load_ext autoreload",
    "%%time\ndef f(x):\n    return np.asarray(x) * 2",
    "%time y = f(3)\ndef g():\n    return int(y), listing",
    "%%bash\ntouch should-not-exist",
    "%%capture\ndef h():\n    return 7\nh?",
]


def test_ipython_magics_and_shell_lines_do_not_cost_the_cell(sandbox):
    """Jupyter runs these cells; without a kernel, the Python in them still runs, and
    magics, shell commands and help lookups are skipped with a note (--verbose shows it)."""
    learner = sandbox(IPYTHON_CELLS)
    assert learner.cell_errors == []
    assert np.array_equal(learner.call("f", [1, 2]), [2, 4])
    assert learner.call("g") == (6, [])
    assert learner.call("h") == 7
    assert "skipped %matplotlib inline" in learner.output and "skipped !pip install nothing" in learner.output
    assert "skipped the %%bash cell" in learner.output


def test_ipython_cells_run_alike_in_process_and_a_real_syntax_error_is_reported_as_written():
    namespace: dict = {}
    errors = execute_cells(synthetic([*IPYTHON_CELLS, "%time def broken(:\n    pass", "def oops(:\n    %time 1"]).learner_code(), namespace, "synthetic.ipynb")
    assert namespace["g"]() == (6, []) and namespace["h"]() == 7
    assert not Path("should-not-exist").exists(), "a %%bash cell must not run"
    assert [e.split(":")[:2] for e in errors] == [["cell 5", " SyntaxError"], ["cell 6", " SyntaxError"]], errors
    assert "'(' was never closed" in errors[1] or "invalid syntax" in errors[1], errors


def test_a_cell_that_hangs_is_skipped_and_the_rest_still_runs(sandbox):
    learner = sandbox(["def f():\n    return 1", "while True:\n    pass", "def g():\n    return 2"], limits=Limits(call_timeout=2, exec_timeout=1))
    assert (learner.call("f"), learner.call("g")) == (1, 2)
    assert learner.cell_errors == ["cell 1: did not finish within 1 s; skipped when grading (look for an infinite loop)"]


def test_a_cell_that_ends_the_process_is_skipped(sandbox):
    learner = sandbox(["import os\nos._exit(0)", "def g():\n    return 2"])
    assert learner.call("g") == 2
    assert learner.cell_errors == ["cell 0: ended the Python process (exit code 0, e.g. from os._exit); skipped when grading"]


# -- limits ---------------------------------------------------------------------------------


def test_a_call_that_runs_too_long_is_killed_and_the_next_call_works(sandbox):
    learner = sandbox(["def spin():\n    while True:\n        pass", "def f():\n    return 3"], limits=Limits(call_timeout=0.5, memory_bytes=GIB))
    started = time.monotonic()
    with pytest.raises(LearnerError, match=r"spin did not finish within 0.5 s: look for an infinite loop"):
        learner.call("spin")
    assert time.monotonic() - started < 2
    assert learner.call("f") == 3


@pytest.mark.parametrize(
    "body, how",
    [
        ("import os\n    os._exit(7)", "exit code 7"),
        ("import faulthandler\n    faulthandler._sigsegv()", "segmentation fault"),
    ],
)
def test_a_crash_fails_that_call_only(sandbox, body, how):
    learner = sandbox([f"def crash():\n    {body}", "def f():\n    return 3"])
    with pytest.raises(LearnerError, match=f"crash crashed the Python process \\({how}"):
        learner.call("crash")
    assert learner.call("f") == 3


def test_the_memory_cap_turns_a_memory_bomb_into_a_memory_error(sandbox):
    learner = sandbox(["def bomb():\n    chunks = []\n    while True:\n        chunks.append(bytearray(50 * 2**20))", "def f():\n    return 3"], limits=Limits(memory_bytes=GIB // 2))
    with pytest.raises(LearnerError, match="bomb ran out of memory"):
        learner.call("bomb")
    assert learner.call("f") == 3


def test_prints_cannot_reach_the_protocol_and_output_is_truncated(sandbox):
    cells = [
        "import os, sys\nprint('x' * 100_000)\nos.write(1, bytes(range(256)) * 100)\nsys.__stderr__.write('\\x00' * 8)",
        "def chatty():\n    print('\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x10{\"fake\":1}')\n    return 5",
    ]
    learner = sandbox(cells, limits=Limits(output_bytes=4096))
    assert learner.call("chatty") == 5
    assert len(learner.output) < 4096 + 100 and "bytes not shown" in learner.output


def test_the_child_runs_in_its_own_temporary_directory_with_a_scrubbed_environment(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    learner = sandbox(["import os\ndef where():\n    return os.getcwd(), os.environ.get('SECRET_TOKEN'), os.environ['AUTOGRADER_NOTEBOOK_DIR']"], notebook_dir=tmp_path)
    cwd, secret, notebook_dir = learner.call("where")
    assert secret is None and notebook_dir == str(tmp_path.resolve())
    assert Path(cwd).name.startswith("autograder-") and not Path(cwd).is_relative_to(tmp_path)
    learner.close()
    assert not Path(cwd).exists()


def test_closing_kills_the_whole_process_group(sandbox):
    learner = sandbox(["import os\ndef pid():\n    return os.getpid()"])
    pid = learner.call("pid")
    learner.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# -- the guard ----------------------------------------------------------------------------------


def test_writing_inside_the_working_directory_works(sandbox):
    learner = sandbox(["import os\ndef scratch():\n    os.mkdir('d')\n    open('d/f.txt', 'w').write('ok')\n    os.rename('d/f.txt', 'd/g.txt')\n    return open('d/g.txt').read()"])
    assert learner.call("scratch") == "ok"


WRITE_ATTACKS = [
    "open(CANARY, 'w').write('x')",
    "open(CANARY, 'a').write('x')",
    "os.remove(CANARY)",
    "os.rename(CANARY, 'stolen')",
    "shutil.rmtree(os.path.dirname(CANARY))",
    "os.chmod(CANARY, 0)",
    "os.truncate(CANARY, 0)",
    "os.symlink(CANARY, 'link')",
    "os.link(CANARY, 'hard')",
    "os.chdir('/'); open(CANARY[1:], 'w')",
    "open('../../../../../../../../' + CANARY, 'w')",
]
ESCAPES = [
    ("socket.create_connection(('127.0.0.1', 9))", "network access is not allowed"),
    ("socket.socket().bind(('127.0.0.1', 0))", "network access is not allowed"),
    ("subprocess.run(['true'])", "starting or signalling processes is not allowed"),
    ("os.system('true')", "starting or signalling processes is not allowed"),
    ("os.fork()", "starting or signalling processes is not allowed"),
    ("os.execv('/bin/true', ['true'])", "starting or signalling processes is not allowed"),
    ("os.kill(os.getppid(), 9)", "starting or signalling processes is not allowed"),
    ("resource.setrlimit(resource.RLIMIT_AS, (-1, -1))", "starting or signalling processes is not allowed"),
    ("ctypes.CDLL(None)", "ctypes.dlopen is not allowed"),
    ("gc.get_objects()", "gc.get_objects is not allowed"),
    ("import _posixsubprocess; _posixsubprocess.fork_exec()", "starting processes is not allowed"),
]


@pytest.fixture(scope="module")
def canary(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outside") / "canary.txt"


@pytest.fixture(scope="module")
def attacks(canary):
    """One sandbox defining ``write_<i>`` and ``escape_<i>`` for the attacks above."""
    cells = [f"import os, shutil, socket, subprocess, resource, ctypes, gc\nCANARY = {str(canary)!r}"]
    cells += [f"def write_{i}():\n    {statement}" for i, statement in enumerate(WRITE_ATTACKS)]
    cells += [f"def escape_{i}():\n    {statement}" for i, (statement, _) in enumerate(ESCAPES)]
    with SandboxedLearner(synthetic(cells), limits=FAST) as learner:
        yield learner


@pytest.mark.parametrize("index", range(len(WRITE_ATTACKS)), ids=WRITE_ATTACKS)
def test_writes_outside_the_working_directory_are_refused(attacks, canary, index):
    canary.write_text("alive")
    with pytest.raises(LearnerError, match="PermissionError: sandbox:"):
        attacks.call(f"write_{index}")
    assert canary.read_text() == "alive" and sorted(p.name for p in canary.parent.iterdir()) == ["canary.txt"]


@pytest.mark.parametrize("index", range(len(ESCAPES)), ids=[s for s, _ in ESCAPES])
def test_network_processes_and_escape_hatches_are_refused(attacks, index):
    with pytest.raises(LearnerError, match=ESCAPES[index][1]):
        attacks.call(f"escape_{index}")


def test_deny_read_hides_a_folder_but_allow_read_reopens_part_of_it(sandbox, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("mine")
    (tmp_path / "other.txt").write_text("theirs")
    learner = sandbox([f"ROOT = {str(tmp_path)!r}\ndef read(name):\n    return open(ROOT + '/' + name).read()"], deny_read=[tmp_path], allow_read=[tmp_path / "mine"])
    assert learner.call("read", "mine/a.txt") == "mine"
    with pytest.raises(LearnerError, match="reading .* is not allowed"):
        learner.call("read", "other.txt")


def test_the_kernel_enforces_the_file_rules_where_c_code_bypasses_the_audit_hook(sandbox, tmp_path):
    secret = tmp_path / "hidden" / "secret.db"
    secret.parent.mkdir()
    with sqlite3.connect(secret) as database:
        database.execute("create table t(x)")
    sqlite_uri = "sqlite3.connect('file:{}?mode={}', uri=True).execute('{}')"  # the hook sees a relative 'file:...' path
    learner = sandbox([
        "import sqlite3",
        "def write():\n    " + sqlite_uri.format(tmp_path / "made.db", "rwc", "create table t(x)"),
        "def read():\n    " + sqlite_uri.format(secret, "ro", "select 1"),
    ], deny_read=[secret.parent])
    if not learner.kernel_guard:
        pytest.skip("this kernel offers no Landlock; the audit hook alone guards")
    with pytest.raises(LearnerError, match="unable to open database file"):
        learner.call("write")
    assert not (tmp_path / "made.db").exists()
    with pytest.raises(LearnerError, match="unable to open database file"):
        learner.call("read")


IMPORTERS = [
    "import torch",
    "from scipy import signal",
    "import importlib\n    importlib.import_module('scipy.ndimage')",
    "try:\n        import torch\n    except ImportError:\n        pass",
]


@pytest.fixture(scope="module")
def importers():
    cells = [f"def sneaky_{i}():\n    {importer}\n    return 1" for i, importer in enumerate(IMPORTERS)] + ["def fine():\n    return 2"]
    with SandboxedLearner(synthetic(cells), limits=FAST, forbidden_modules=("torch", "scipy.signal", "scipy.ndimage"), forbidden_rule="is not allowed in this test") as learner:
        yield learner


@pytest.mark.parametrize("index", range(len(IMPORTERS)), ids=IMPORTERS)
def test_forbidden_imports_are_refused_and_fail_the_call_that_touched_them(importers, index):
    with pytest.raises(LearnerError, match=rf"sneaky_{index} uses (torch|scipy\.signal|scipy\.ndimage), which is not allowed in this test\."):
        importers.call(f"sneaky_{index}")
    assert importers.call("fine") == 2


def test_a_forbidden_import_in_a_cell_is_reported_with_the_cells_errors(sandbox):
    learner = sandbox(["import torch", "def uses():\n    return torch.zeros(2)"], forbidden_modules=("torch",), forbidden_rule="is not allowed here")
    assert learner.forbidden_imports == ["torch"]
    assert learner.cell_errors == ["cell 0: ImportError: sandbox: importing torch is not allowed here"]
    with pytest.raises(LearnerError, match=r"NameError.*\(Your notebook imports torch, which is not allowed here\.\)"):
        learner.call("uses")


def test_patching_numpy_in_the_child_does_not_reach_the_parent(sandbox):
    learner = sandbox(["import numpy as np\nnp.allclose = lambda *a, **k: True\nimport autograder.compare\nautograder.compare.assert_matches = lambda *a, **k: None", "def f():\n    return np.allclose(0, 1)"])
    assert learner.call("f") is True
    import autograder.compare

    assert np.allclose(0, 1) is False and autograder.compare.assert_matches.__module__ == "autograder.compare"


def test_limits_reject_nonsense():
    with pytest.raises(ValueError):
        Limits(call_timeout=0)
    with pytest.raises(ValueError):
        Limits(memory_bytes=10 * MIB)


def test_the_worker_imports_no_pytest_and_no_torch(sandbox):
    learner = sandbox(["import sys\ndef loaded():\n    return sorted(m for m in ('pytest', 'torch', 'scipy') if m in sys.modules)"])
    assert learner.call("loaded") == []
    assert sys.modules.get("autograder._sandbox_worker") is None  # the parent never imports it


def test_a_child_that_cannot_start_is_the_graders_error_not_the_learners():
    learner = SandboxedLearner(synthetic(["x = 1"]), limits=FAST, preload=("no_such_module_here",))
    with pytest.raises(SandboxError, match="the sandbox process did not start .*No module named 'no_such_module_here'"):
        learner.has("x")
    learner.close()


def test_a_child_dies_with_its_parent(tmp_path):
    code = (
        "import sys; sys.path.insert(0, 'tests'); from hostile import synthetic; "
        "from autograder.sandbox import SandboxedLearner; "
        "learner = SandboxedLearner(synthetic(['import os\\ndef pid():\\n    return os.getpid()', 'def spin():\\n    while True: pass'])); "
        "print(learner.call('pid'), flush=True); learner._request('spin', {'op': 'call', 'name': 'spin', 'args': (), 'kwargs': {}})"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, 9)
    pytest.fail("the sandboxed child outlived its parent")


# -- bubblewrap: the boundary, observed from inside (no audit hook: it is not what protects) --

import json as _json  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402

from autograder.isolation import bwrap  # noqa: E402

from hostile import require_bwrap  # noqa: E402

BARE = bwrap.Mounts(packages=("numpy",), work_bytes=1 * MIB)


def inside(script: str, mounts: bwrap.Mounts = BARE, **popen) -> dict:
    """Run ``script`` (Python, printing one JSON line) in the sandbox the grader builds."""
    require_bwrap()
    env = bwrap.child_environment({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    run = subprocess.run(bwrap.command(["-c", script], mounts), capture_output=True, text=True, env=env, timeout=60, **popen)
    assert run.returncode == 0, run.stderr
    return _json.loads(run.stdout.strip().splitlines()[-1])


def test_the_child_has_its_own_namespaces_an_unprivileged_uid_and_no_capabilities():
    seen = inside(
        "import json, os, socket\n"
        "status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines() if ':\\t' in line)\n"
        "print(json.dumps({'ids': [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],\n"
        "  'caps': [status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')],\n"
        "  'ns': {n: os.readlink('/proc/self/ns/' + n) for n in ('user', 'pid', 'net', 'ipc', 'uts')},\n"
        "  'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),\n"
        "  'interfaces': [name for _, name in socket.if_nameindex()], 'hostname': socket.gethostname()}))"
    )
    assert seen["ids"] == [bwrap.SANDBOX_UID] * 4
    assert seen["caps"] == ["0000000000000000"] * 5
    assert all(link != os.readlink(f"/proc/self/ns/{name}") for name, link in seen["ns"].items()), seen["ns"]
    assert len(seen["pids"]) <= 3  # bwrap's init, this process and at most one helper: no host process
    assert seen["interfaces"] == ["lo"] and seen["hostname"] == "sandbox"


def test_the_child_sees_only_its_allow_list_and_writes_only_its_capped_tmpfs(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notebook.ipynb").write_text("{}")
    mounts = bwrap.Mounts(packages=("numpy",), folders=((str(mine), "mine"),), work_bytes=1 * MIB)
    repo = Path(__file__).resolve().parent.parent
    seen = inside(
        "import json, os\n"
        "def writes(path):\n"
        "    try:\n        open(path, 'wb').write(b'x' * 4096); return True\n    except OSError:\n        return False\n"
        "def fill():\n"
        "    try:\n        open('/sandbox/work/big', 'wb').write(b'x' * (2 << 20)); return True\n    except OSError:\n        return False\n"
        f"print(json.dumps({{'root': sorted(os.listdir('/')), 'sandbox': sorted(os.listdir('/sandbox')),\n"
        "  'lib': sorted(os.listdir('/sandbox/lib/autograder')), 'site': sorted(os.listdir('/sandbox/site')),\n"
        "  'notebooks': sorted(os.listdir('/sandbox/notebooks')),\n"
        f"  'repo': [p for p in {[str(repo), str(repo / 'solutions'), str(repo / '.git'), str(tmp_path)]!r} if os.path.exists(p)],\n"
        "  'writes': {p: writes(p) for p in ('/x', '/usr/x', '/sandbox/lib/x', '/sandbox/notebooks/mine/x', '/sandbox/work/x', '/sandbox/work/tmp/x')},\n"
        "  'fill': fill()}))",
        mounts,
    )
    assert set(seen["root"]) <= {"sandbox", "usr", "bin", "lib", "lib64", "lib32", "sbin", "etc", "proc", "dev", "root", "opt", "home"}
    assert seen["sandbox"] == ["lib", "notebooks", "site", "work"]
    assert set(seen["lib"]) == set(bwrap.CHILD_MODULES) | {"isolation"}
    assert all(entry.startswith("numpy") for entry in seen["site"]) and seen["notebooks"] == ["mine"]
    assert seen["repo"] == []
    assert seen["writes"] == {"/x": False, "/usr/x": False, "/sandbox/lib/x": False, "/sandbox/notebooks/mine/x": False, "/sandbox/work/x": True, "/sandbox/work/tmp/x": True}
    assert seen["fill"] is False  # the tmpfs is capped at work_bytes
    assert sorted(p.name for p in mine.iterdir()) == ["notebook.ipynb"]


def test_pipe_descriptors_survive_into_the_child():
    read_end, write_end = os.pipe()
    try:
        inside(f"import json, os\nos.write({write_end}, b'through')\nprint(json.dumps({{}}))", pass_fds=(write_end,))
        os.close(write_end)
        assert os.read(read_end, 100) == b"through"
    finally:
        os.close(read_end)


def test_file_metadata_outside_cannot_be_changed_through_descriptors(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    target = mine / "notebook.ipynb"
    target.write_text("{}")
    os.setxattr(target, "user.course", b"kept")
    before = (os.stat(target), os.listxattr(target))
    mounts = bwrap.Mounts(packages=("numpy",), folders=((str(mine), "mine"),))
    seen = inside(
        "import fcntl, json, os, struct\n"
        "fd = os.open('/sandbox/notebooks/mine/notebook.ipynb', os.O_RDONLY)\n"
        "attempts = {'fchmod': lambda: os.fchmod(fd, 0o777), 'fchown': lambda: os.fchown(fd, 0, 0),\n"
        "  'utime': lambda: os.utime(fd, (0, 0)), 'setxattr': lambda: os.setxattr(fd, 'user.evil', b'1'),\n"
        "  'removexattr': lambda: os.removexattr(fd, 'user.course'),\n"
        "  'ioctl': lambda: fcntl.ioctl(fd, 0x40086602, struct.pack('l', 0x10))}\n"  # FS_IOC_SETFLAGS, immutable
        "failed = {}\n"
        "for name, attempt in attempts.items():\n"
        "    try:\n        attempt(); failed[name] = False\n    except OSError:\n        failed[name] = True\n"
        "print(json.dumps(failed))",
        mounts,
    )
    assert all(seen.values()), seen
    after = (os.stat(target), os.listxattr(target))
    assert (after[0].st_mode, after[0].st_uid, after[0].st_gid, after[0].st_mtime_ns, after[1]) == (before[0].st_mode, before[0].st_uid, before[0].st_gid, before[0].st_mtime_ns, before[1])


def test_the_child_reaches_no_host_listener_and_no_host_process():
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.create_server(("127.0.0.1", 0))
    udp.settimeout(0.5)
    tcp.settimeout(0.5)
    try:
        seen = inside(
            "import json, os, socket\n"
            f"udp_port, tcp_port, grader = {udp.getsockname()[1]}, {tcp.getsockname()[1]}, {os.getpid()}\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "try:\n    s.sendto(b'leak', ('127.0.0.1', udp_port))\nexcept OSError:\n    pass\n"
            "try:\n    socket.create_connection(('127.0.0.1', tcp_port), timeout=1); tcp = True\nexcept OSError:\n    tcp = False\n"
            "print(json.dumps({'tcp': tcp, 'grader_visible': os.path.exists(f'/proc/{grader}/environ') and grader > 3}))"
        )
        assert seen == {"tcp": False, "grader_visible": False}
        with pytest.raises(socket.timeout):
            udp.recvfrom(100)
        with pytest.raises(socket.timeout):
            tcp.accept()
    finally:
        udp.close()
        tcp.close()


def _alive_with(marker: str) -> list[int]:
    alive = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                alive.append(int(entry))
        except OSError:
            pass
    return alive


def test_every_process_the_child_started_dies_with_the_sandbox():
    require_bwrap()
    marker = f"{time.time() % 1000:.6f}"
    script = (
        "import os, subprocess, sys\n"
        f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
        "if os.fork() == 0:\n    os.setsid(); os.execvp('sleep', ['sleep', '" + marker + "'])\n"
        "print('started', flush=True)\n"
        "import time; time.sleep(60)"
    )
    env = bwrap.child_environment({"PATH": "/usr/bin:/bin"})
    process = subprocess.Popen(bwrap.command(["-c", script], BARE), stdout=subprocess.PIPE, env=env, start_new_session=True)
    assert process.stdout.readline().strip() == b"started"
    for _ in range(50):
        if len(_alive_with(marker)) >= 2:
            break
        time.sleep(0.05)
    assert len(_alive_with(marker)) >= 2
    os.killpg(process.pid, signal.SIGKILL)  # what the sandbox does to end a child
    process.wait()
    for _ in range(50):
        if not _alive_with(marker):
            return
        time.sleep(0.1)
    pytest.fail(f"processes outlived the sandbox: {_alive_with(marker)}")


def test_a_notebook_of_hanging_cells_costs_at_most_its_time_budget(sandbox):
    started = time.monotonic()
    learner = sandbox(["while True:\n    pass"] * 20 + ["def f():\n    return 1"], limits=Limits(call_timeout=1, exec_timeout=1, budget=3, memory_bytes=1 * GIB))
    with pytest.raises(LearnerError, match="used up its time budget of 3 s"):
        learner.call("f")
    with pytest.raises(LearnerError, match="used up its time budget of 3 s"):
        learner.call("f")
    assert time.monotonic() - started < 8
    assert any("time budget ran out" in line for line in learner.cell_errors)


def test_forged_cell_errors_are_refused_and_rebuilt_from_the_cells_the_parent_sent(sandbox):
    forge = (
        "import os, sys\nfrom autograder import codec\n"
        "os.write(int(sys.argv[2]), codec.encode({'status': 'done', 'errors': [[999, '=HYPERLINK(\"x\")'], ['\u0663', 'x']], 'callables': ['f']}))"
    )
    learner = sandbox(["def f():\n    return 1", forge, "raise ValueError('=1+1\\n' + 'x' * 10000)"])
    assert learner.call("f") == 1
    errors = learner.cell_errors
    assert [line.split(":")[0] for line in errors] == ["cell 1", "cell 2"]  # the forging cell is blamed
    assert not any("HYPERLINK" in line or "999" in line for line in errors)
    assert errors[1].startswith("cell 2: ValueError: =1+1") and len(errors[1]) < 400 and "\n" not in errors[1]
