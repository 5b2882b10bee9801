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
from autograder.paths import ORACLE_DATA_DIR, REFERENCE_DIR, REPO_ROOT, SOLUTIONS_DIR
from autograder.reference.weights import sha256_file

from hostile import BASE, OTHER_CHECK, PAD2D_AND_OTHER, PAD2D_BODY, pad2d_body, solution_with

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
    assert conv.message == "conv2d_forward uses torch, which is not allowed in the NumPy assignments (01-04); write it with NumPy only."


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
