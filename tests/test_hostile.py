"""Hostile notebooks are graded without harming the grader.

Each variant of the 02-padding-stride solution breaks ``pad2d`` (or its cell) in one hostile way.
It must score 0 on ``02.pad2d.values`` with a message that says why, while an untouched check
still passes; the grading process (this one: grading runs in-process) survives; and nothing
outside the sandbox's directory changes: the notebook, the reference weights, the oracles, the
solutions and a canary file are compared before and after.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from autograder import cli, engine
from autograder.assignments import get_assignment
from autograder.paths import ORACLE_DATA_DIR, REFERENCE_DIR, REPO_ROOT, SOLUTIONS_DIR
from autograder.reference.weights import sha256_file

from hostile import BASE, OTHER_CHECK, PAD2D_AND_OTHER, PAD2D_BODY, pad2d_body, solution_with

# one worker runs the timing-sensitive sandbox tests and the CPU-hog test one after another
pytestmark = pytest.mark.xdist_group("sandbox-timing")

WEIGHTS = sorted(REFERENCE_DIR.glob("*.safetensors"))
GUARDED = [*WEIGHTS, *ORACLE_DATA_DIR.glob("*.npz"), *SOLUTIONS_DIR.rglob("*.ipynb")]
CANARY_TEXT = "still here"
LIMIT = 1  # seconds per call and for the cells: hostile loops cost little


def _digests(paths) -> dict[Path, str]:
    return {p: sha256_file(p) for p in paths if p.is_file()}


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "canary.txt"
    path.parent.mkdir()
    path.write_text(CANARY_TEXT)
    return path


@pytest.fixture
def untouched(canary: Path):
    """The course's files and the canary's folder are byte for byte the same after the test."""
    before = _digests([*GUARDED, *canary.parent.iterdir()])
    yield
    assert _digests([*GUARDED, *canary.parent.iterdir()]) == before
    assert canary.read_text() == CANARY_TEXT


def hostile(tmp_path: Path, canary: Path, body: str = "", *, cell: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> Path:
    """The 02 solution with pad2d's body (or its cell's text) replaced; ``CANARY`` and
    ``WEIGHTS`` name files outside the sandbox."""
    setup = f"import os, shutil, socket, subprocess, sys\nCANARY = {str(canary)!r}\nWEIGHTS = {str(WEIGHTS[0]) if WEIGHTS else ''!r}\n"
    replacements = dict(cell) if cell else pad2d_body(body)
    return solution_with(tmp_path / "work", replacements, extra_cells=(setup, *extra))


def graded(path: Path, only: str = PAD2D_AND_OTHER) -> dict[str, engine.CheckResult]:
    """Grade in this process (so this process surviving is part of each test); the notebook
    itself must be unchanged."""
    before = _digests([path])
    result = engine.grade_notebook(path, only=only, timeout=LIMIT, exec_timeout=LIMIT)
    assert _digests([path]) == before
    graded.last = result  # type: ignore[attr-defined]
    return {c.id: c for c in result.checks}


def assert_only_pad2d_fails(checks: dict[str, engine.CheckResult], message: str) -> None:
    pad = checks["02.pad2d.values"]
    assert pad.earned == 0 and pad.status == "failed" and re.search(message, pad.message), pad.message
    assert checks[OTHER_CHECK].passed and checks["02.same_padding.errors"].passed


# Setup cells are appended to the notebook, so function bodies use them when called.
IN_FUNCTION = {
    "infinite_loop": ("    while True:\n        pass", r"^pad2d did not finish within 1 s: look for an infinite loop"),
    "memory_bomb": ("    hog = []\n    while True:\n        hog.append(np.empty(2**27))", r"^pad2d ran out of memory"),
    "os_exit": ("    os._exit(0)", r"^pad2d crashed the Python process \(exit code 0"),
    "sys_exit": ("    sys.exit('done')", r"^pad2d called sys.exit\('done'\); a graded function must return a value"),
    "rewrite_reference_weights": ("    open(WEIGHTS, 'r+b').write(b'0' * 64)", r"PermissionError: sandbox: writing outside the working directory"),
    "delete_reference_weights": ("    os.remove(WEIGHTS)", r"PermissionError: sandbox: writing outside the working directory"),
    "delete_files": ("    os.remove(CANARY)\n    shutil.rmtree(os.path.dirname(CANARY))", r"PermissionError: sandbox: writing outside"),
    "spawn_subprocess": ("    subprocess.run(['rm', '-f', CANARY])", r"PermissionError: sandbox: starting or signalling processes is not allowed \(subprocess.Popen\)"),
    "open_socket": ("    socket.create_connection(('127.0.0.1', 9), timeout=1)", r"PermissionError: sandbox: network access is not allowed"),
    "kill_the_grader": ("    os.kill(os.getppid(), 9)", r"PermissionError: sandbox: starting or signalling processes is not allowed \(os.kill\)"),
    "read_the_oracles": (f"    return np.load({str(ORACLE_DATA_DIR / (BASE + '.npz'))!r})['pad2d.0']", r"PermissionError: sandbox: reading .* is not allowed|FileNotFoundError: .* No such file"),  # fallback | bwrap
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", IN_FUNCTION)
def test_a_hostile_pad2d_scores_0_and_the_rest_is_graded(tmp_path, canary, name):
    body, message = IN_FUNCTION[name]
    assert_only_pad2d_fails(graded(hostile(tmp_path, canary, body)), message)


def test_a_numpy_assignment_sees_none_of_the_repository(tmp_path, canary):
    paths = [str(p) for p in (*WEIGHTS, ORACLE_DATA_DIR, SOLUTIONS_DIR, REPO_ROOT / ".git", REPO_ROOT)]
    body = f"    assert not any(os.path.exists(p) for p in {paths!r})\n" + PAD2D_BODY
    assert all(c.passed for c in graded(hostile(tmp_path, canary, body)).values())


AT_IMPORT = {
    "infinite_loop": ("while True:\n    pass\n", r"cell \d+: did not finish within 1 s; skipped when grading"),
    "memory_bomb": ("hog = [np.zeros(2**24) for _ in range(10**4)]\n", r"cell \d+: MemoryError"),
    "os_exit": ("import os\nos._exit(3)\n", r"cell \d+: ended the Python process \(exit code 3"),
    "sys_exit": ("import sys\nsys.exit(0)\n", r"cell \d+: SystemExit: 0"),
    "syntax_error": ("def oops(:\n", r"cell \d+: SyntaxError"),
    "exception": ("raise RuntimeError('boom')\n", r"cell \d+: RuntimeError: boom"),
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("name", AT_IMPORT)
def test_a_hostile_cell_loses_the_functions_it_defines_and_nothing_else(tmp_path, canary, name):
    prefix, cell_error = AT_IMPORT[name]
    path = hostile(tmp_path, canary, cell={"def pad2d(x, padding):": prefix + "def pad2d(x, padding):"})
    assert_only_pad2d_fails(graded(path), r"^pad2d is not defined: run the cell that defines it")
    (error,) = graded.last.cell_errors  # type: ignore[attr-defined]
    assert re.match(cell_error, error), error


@pytest.mark.usefixtures("untouched")
def test_torch_in_a_numpy_exercise_scores_0_with_an_explicit_message(tmp_path, canary):
    uses_torch = {"    sh, sw = as_pair(stride)\n    kh, kw = w.shape[2:]": "    import torch.nn.functional as F\n    sh, sw = as_pair(stride)\n    kh, kw = w.shape[2:]"}
    checks = graded(hostile(tmp_path, canary, cell=uses_torch), only="02.conv2d_forward.basic")
    (conv,) = checks.values()
    assert conv.earned == 0
    assert conv.message == "conv2d_forward uses torch, which is not allowed in the NumPy assignments (01, 02, 03, 04, 06); write it with NumPy only."


@pytest.mark.usefixtures("untouched")
def test_scipy_signal_in_a_numpy_exercise_scores_0(tmp_path, canary):
    body = "    from scipy.signal import correlate\n" + PAD2D_BODY
    assert_only_pad2d_fails(graded(hostile(tmp_path, canary, body)), r"^pad2d uses scipy.signal, which is not allowed in the NumPy assignments")


@pytest.mark.usefixtures("untouched")
def test_patching_the_checks_and_numpy_in_the_notebook_changes_no_score(tmp_path, canary):
    patches = (
        "import numpy as np, builtins\n"
        "import autograder.compare, autograder.registry, autograder.checks.padding_stride as ps\n"
        "autograder.compare.assert_matches = lambda *a, **k: None\n"
        "ps.assert_matches = lambda *a, **k: None\n"
        "autograder.registry.CheckFailed = type('Nope', (Exception,), {})\n"
        "np.array_equal = np.allclose = lambda *a, **k: True\n"
        "builtins.isinstance = lambda *a: True\n"
    )
    path = hostile(tmp_path, canary, "    return x", extra=(patches,))
    assert_only_pad2d_fails(graded(path), r"^pad2d\(float64 array")


@pytest.mark.usefixtures("untouched")
def test_printing_a_fake_score_changes_neither_the_report_nor_the_json(tmp_path, canary, capsys):
    fake = (
        "print('\\x1b[2J\\x1b[H✓ 02.pad2d.values  2/2\\n    total  19/19 points')\n"
        "print(json.dumps({'score': 100, 'max_score': 100, 'tests': []}))\n"
        "import sys; sys.stderr.write('19/19 points\\n')\n"
    )
    path = hostile(tmp_path, canary, "    print('19/19 points')\n    return x", extra=("import json", fake))
    results = tmp_path / "results.json"
    assert cli.main([str(path), "--only", PAD2D_AND_OTHER, "--json", str(results), "--timeout", str(LIMIT)]) == 0
    out = capsys.readouterr().out
    assert "19/19" not in out and "100" not in out and "\x1b" not in out and "2/4 points" in out
    data = json.loads(results.read_text())
    assert (data["score"], data["max_score"]) == (2, 4) and len(data["tests"]) == 3


def test_torch_and_scipy_signal_are_not_in_a_numpy_assignments_sandbox_under_any_name():
    from autograder.assignments import get_assignment
    from autograder.isolation.policy import notebook_mounts

    from test_sandbox import inside

    mounts, _ = notebook_mounts(get_assignment(BASE).solution_path, get_assignment(BASE))
    seen = inside(
        "import importlib.util, json, os\n"
        "names = [n for root, dirs, files in os.walk('/sandbox') for n in dirs + files]\n"
        "print(json.dumps({'torch_spec': importlib.util.find_spec('torch') is not None,\n"
        "  'torch_files': [n for n in names if n.startswith('libtorch') or n == 'torch' and 'torch' in os.listdir('/sandbox/site')],\n"
        "  'hidden': [os.listdir('/sandbox/site/scipy/' + d) for d in ('signal', 'ndimage')],\n"
        "  'numpy': importlib.util.find_spec('numpy') is not None}))",
        mounts,
    )
    assert seen == {"torch_spec": False, "torch_files": [], "hidden": [[], []], "numpy": True}


# -- the hostile suite: one learner per attack class, graded in one --batch under bubblewrap,
# -- with the audit hook disarmed first (tests/hostile/unhook.py), observed from outside ------

import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from autograder.sandbox import WARM_ENV_VAR  # noqa: E402

from hostile import require_bwrap  # noqa: E402

UNHOOK = (Path(__file__).parent / "hostile" / "unhook.py").read_text()
CORRECT = PAD2D_BODY.replace("    return ", "    _answer = ") + "\n    return _answer"
MARKER = "4242.424242"  # sleep's argument: a process that outlives grading would show it
CANARY_ENV = "AUTOGRADER_TEST_CANARY"
CANARY_VALUE = "canary-5f1d8c0e"
ATTACKS = {
    # attack -> pad2d's body (correct only if the attack worked); each runs after UNHOOK
    "solutions_through_the_grader": "    from autograder.notebook import solution_functions\n    return solution_functions('02-padding-stride')['pad2d'](x, padding)",
    "solutions_as_json": "    json.load(open(REPO + '/solutions/02-padding-stride/padding_stride.ipynb'))\n" + CORRECT,
    "oracles_through_git_objects": "    assert [n for _, _, files in os.walk(REPO + '/.git') for n in files]\n    return np.load(REPO + '/autograder/oracle_data/02-padding-stride.npz')['pad2d.0']",
    "torch_under_another_name": (
        "    import glob, importlib.util\n"
        "    found = glob.glob('/sandbox/**/torch/__init__.py', recursive=True) + glob.glob(SITE + '/torch/__init__.py')\n"
        "    spec = importlib.util.spec_from_file_location('not_torch', found[0])\n"
        "    module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "    return module.nn.functional.pad(module.from_numpy(x), (padding,) * 4).numpy()"
    ),
    "udp_and_tcp_to_the_host": (
        "    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'leak ' + repr(x.shape).encode(), ('127.0.0.1', UDP_PORT))\n"
        "    socket.create_connection(('127.0.0.1', TCP_PORT), timeout=1).sendall(b'leak')\n" + CORRECT
    ),
    "processes_that_outlive_grading": (
        f"    os.posix_spawn('/usr/bin/sleep', ['sleep', '{MARKER}'], {{}}, setsid=True)\n"
        f"    if os.fork() == 0:\n        os.setsid(); os.execv('/usr/bin/sleep', ['sleep', '{MARKER}'])\n"
        "    return x"
    ),
    "metadata_through_descriptors": (
        "    import fcntl, struct\n"
        "    for name in os.listdir(os.environ['AUTOGRADER_NOTEBOOK_DIR']):\n"
        "        fd = os.open(os.path.join(os.environ['AUTOGRADER_NOTEBOOK_DIR'], name), os.O_RDONLY)\n"
        "        for attempt in (lambda: os.fchmod(fd, 0o777), lambda: os.fchown(fd, 0, 0), lambda: os.utime(fd, (0, 0)),\n"
        "                        lambda: os.setxattr(fd, 'user.evil', b'1'), lambda: fcntl.ioctl(fd, 0x40086602, struct.pack('l', 0x10))):\n"
        "            try:\n                attempt()\n            except OSError:\n                pass\n"
        "    return x"
    ),
    "the_graders_environment": (
        "    seen = b''\n"
        "    for pid in os.listdir('/proc'):\n"
        "        for part in ('environ', 'cmdline'):\n"
        "            try:\n                seen += open(f'/proc/{pid}/{part}', 'rb').read()\n            except OSError:\n                pass\n"
        f"    assert b'{CANARY_ENV}' in seen, 'no canary'\n"
        "    raise ValueError(seen.decode(errors='replace'))"
    ),
    "other_learners_folders": "    raise ValueError('seen: ' + repr([os.listdir(p) for p in ('/sandbox/notebooks', '..', '/sandbox')]))",
    "huge_messages": "    raise ValueError('A' * (40 << 20))",
}
# pad2d.values, same_padding.values/.errors, conv_output_size.errors and conv2d_forward.speed
ONLY = "02.[pcs][ao][dnm]*[sd]"
CONV_START = "    sh, sw = as_pair(stride)\n    kh, kw = w.shape[2:]\n"
SPEED_ATTACKS = {
    # attack -> conv2d_forward's new beginning, against 02.conv2d_forward.speed
    "memoising_the_timed_check": (
        "    key = (x.tobytes(), w.tobytes(), b.tobytes(), repr(stride), repr(padding))\n"
        "    if key not in MEMO:\n        MEMO[key] = conv2d_forward_loops(x, w, b, stride=stride, padding=padding)\n"
        "    return MEMO[key]\n"
    ),
    "only_two_images_right": (
        "    if x.shape[0] > 2:\n        head = conv2d_forward(x[:2], w, b, stride=stride, padding=padding)\n"
        "        return np.concatenate([head, np.zeros((x.shape[0] - 2, *head.shape[1:]))])\n"
    ),
}
EXTRA_CELLS = {
    "forged_replies": ["import os, sys\nfrom autograder import codec\nos.write(int(sys.argv[2]), codec.encode({'status': 'done', 'errors': [[1, '=HYPERLINK(\"http://x\")'], ['\u0663', '=1+1']], 'callables': ['pad2d']}))"],
    "huge_messages": ["print('\\n' * 200_000)", "raise ValueError('=cmd|' + 'line\\n' * 200_000)"],
    "hanging_cells": ["while True:\n    pass"] * 5,
}


@pytest.fixture(scope="module", params=["warm", "cold"])
def hostile_batch(tmp_path_factory, request):
    """Grade every attack (plus an honest learner) in one --batch run, observing from outside:
    once with warm workers (each notebook a fork of a template that served the notebook before
    it; a failing template fails the run instead of falling back) and once with --cold."""
    require_bwrap()
    root = tmp_path_factory.mktemp("hostile")
    batch = root / "batch"
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    tcp = socket.create_server(("127.0.0.1", 0))
    tcp.settimeout(0.2)
    import numpy

    setup = (
        "import json, os, socket, sys\nimport numpy as np\n"
        f"REPO, SITE = {str(REPO_ROOT)!r}, {str(Path(numpy.__file__).parent.parent)!r}\n"
        f"UDP_PORT, TCP_PORT = {udp.getsockname()[1]}, {tcp.getsockname()[1]}\n"
    )
    solution_with(batch / "honest", {})
    for name in {*ATTACKS, *EXTRA_CELLS}:
        replacements = pad2d_body(ATTACKS[name]) if name in ATTACKS else {}
        notebook = solution_with(batch / name, replacements, extra_cells=(UNHOOK, setup, *EXTRA_CELLS.get(name, ())))
        (notebook.parent / "canary.txt").write_text("canary")
    for name, start in SPEED_ATTACKS.items():
        solution_with(batch / name, {CONV_START: start + CONV_START}, extra_cells=(UNHOOK, "MEMO = {}"))
    always_raises = solution_with(batch / "errors_that_always_raise", {"    return total // 2": "    raise ValueError('always')"})
    wrong = batch / "wrong_assignment" / BASE / "padding_stride.ipynb"
    wrong.parent.mkdir(parents=True)
    wrong.write_text(get_assignment("01-convolution").solution_path.read_text())
    (batch / "symlinked" / BASE).mkdir(parents=True)
    (batch / "symlinked" / BASE / "padding_stride.ipynb").symlink_to(always_raises)
    watched = sorted(p for p in batch.rglob("*") if p.is_file() and not p.is_symlink())
    before = {p: (os.stat(p), os.listxattr(p)) for p in watched}
    guarded = _digests(GUARDED)
    env = dict(os.environ, **{CANARY_ENV: CANARY_VALUE, WARM_ENV_VAR: "require"})
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "--batch", str(batch), "--csv", str(root / "grades.csv"), "--json", str(root / "results.json"),
         "--only", ONLY, "--timeout", "3", "--notebook-timeout", "2", "--jobs", "2", "--quiet", *(["--cold"] if request.param == "cold" else [])],
        capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600,
    )
    seconds = time.monotonic() - started
    received = []
    for receive in (lambda: udp.recvfrom(1 << 16), lambda: tcp.accept()):
        try:
            received.append(receive())
        except OSError:
            pass
    udp.close()
    tcp.close()
    time.sleep(0.5)
    yield {
        "run": run, "seconds": seconds, "root": root, "received": received,
        "changed": [p for p in watched if (lambda st, xa: (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, xa))(*before[p]) != (lambda st, xa: (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, xa))(os.stat(p), os.listxattr(p))],
        "guarded_changed": _digests(GUARDED) != guarded,
        "alive": [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline_has(pid, MARKER)],
        "rows": {r["learner"]: r for r in __import__("csv").DictReader((root / "grades.csv").read_text().splitlines())},
    }


def _cmdline_has(pid: str, marker: str) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.parametrize("attack", sorted({*ATTACKS, *EXTRA_CELLS}))
def test_each_attack_scores_0_on_what_it_attacks_and_the_rest_is_graded(hostile_batch, attack):
    row = hostile_batch["rows"][attack]
    assert row["max_score"] == hostile_batch["rows"]["honest"]["max_score"] == "8", row
    assert row["02.pad2d.values"] == ("2" if attack in EXTRA_CELLS and attack not in ATTACKS else "0"), row
    assert row["02.same_padding.values"] == "1", row


@pytest.mark.parametrize("attack", sorted(SPEED_ATTACKS))
def test_the_timed_check_cannot_be_memoised_or_fooled_by_a_partial_output(hostile_batch, attack):
    row = hostile_batch["rows"][attack]
    assert (row["02.conv2d_forward.speed"], row["02.pad2d.values"]) == ("0", "2"), row


def test_the_honest_learner_gets_everything_and_the_refused_submissions_nothing(hostile_batch):
    rows = hostile_batch["rows"]
    assert (rows["honest"]["score"], rows["honest"]["max_score"]) == ("8", "8")
    assert rows["errors_that_always_raise"]["02.same_padding.errors"] == "0" and rows["errors_that_always_raise"]["02.pad2d.values"] == "2"
    assert "is a notebook of 01-convolution, not of 02-padding-stride" in rows["wrong_assignment"]["error"]
    assert "is a symbolic link" in rows["symlinked"]["error"]


def test_the_hostile_batch_leaves_no_trace_outside_the_sandbox(hostile_batch):
    assert hostile_batch["changed"] == [] and not hostile_batch["guarded_changed"]
    assert hostile_batch["alive"] == []
    assert hostile_batch["received"] == []


def test_the_hostile_batch_leaks_no_secret_and_floods_no_report(hostile_batch):
    run, root = hostile_batch["run"], hostile_batch["root"]
    outputs = [run.stdout, run.stderr, (root / "results.json").read_text(), (root / "grades.csv").read_text()]
    assert run.returncode == 0  # a batch reports refused submissions as rows
    assert not any(CANARY_VALUE in text for text in outputs)
    assert not any("Traceback" in text or "internal error" in text.lower() for text in outputs)
    assert len(run.stdout) < 1 << 20 and (root / "results.json").stat().st_size < 1 << 20
    assert "alice" not in str(hostile_batch["rows"]["other_learners_folders"]) and "honest" not in (root / "results.json").read_text().split("other_learners_folders", 1)[-1][:3000]
    assert not any(field.startswith(("=", "+", "@")) for row in hostile_batch["rows"].values() for field in row.values())
    rows = hostile_batch["rows"]
    # the forging cell comes after the solution's cells, UNHOOK and the set-up cell
    forging_cell = len(json.loads(get_assignment("02-padding-stride").solution_path.read_text())["cells"]) + 2
    assert f"cell {forging_cell}: ended the Python process" in rows["forged_replies"]["error"] and "HYPERLINK" not in rows["forged_replies"]["error"]
    assert rows["huge_messages"]["error"].startswith("cell ") and len(rows["huge_messages"]["error"]) < 2100
    assert "did not finish within 2 s" in rows["hanging_cells"]["error"]
