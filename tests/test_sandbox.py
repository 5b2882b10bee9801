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
