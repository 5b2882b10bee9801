"""Shared fixtures: learners built from solution notebooks and from seeded-bug variants."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import re
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import numpy as np
import pytest
from hypothesis import strategies as st

from autograder.assignments import FORBIDDEN_IN_NUMPY_ASSIGNMENTS, get_assignment
from autograder.classroom.consistency import mismatches
from autograder.i18n import CHINESE, LANG_ENV_VAR, set_language, translate
from autograder.learner import InProcessLearner
from autograder.notebook import execute_cells, notebook_dir_set, read_notebook, solution_functions, solution_with_replacements
from autograder.oracles import build_oracles, load_oracles
from autograder.registry import CheckFailed, checks_for

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

if not os.environ.get("CNN_COURSE_DATA") and (SHARED_DATA / "mnist").is_dir():
    os.environ["CNN_COURSE_DATA"] = str(SHARED_DATA)

# The suite speaks English (its tests match English messages) whatever a developer's LANG says;
# tests of the Chinese messages ask for Chinese themselves (tests/test_i18n.py).
os.environ["CNN_COURSE_LANG"] = "en"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Make ``--dist loadgroup`` keep each ``xdist_group`` on one worker again. pytest-xdist 3.8
    tags a grouped test by assigning ``item._nodeid``, which pytest 9 no longer reads (a node's id
    is ``item._id``), so every group was silently spread over both workers: each worker built the
    nbgrader parity course on its own, and the CPU-hog test ran beside the sandbox tests' short
    timeouts. This does what xdist means to, on a worker, after xdist's own hook."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        groups = "_".join(sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}))
        if groups and not item.nodeid.endswith(f"@{groups}"):
            item._id = coerce_node_id(f"{item.nodeid}@{groups}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve_folder(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a loopback port; yields the base URL (no trailing slash)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def learner_from_notebook(path: Path) -> InProcessLearner:
    """Execute a notebook's learner code (as the grader does) into a namespace."""
    notebook = read_notebook(path)
    namespace: dict[str, Any] = {"__name__": "learner_notebook"}
    with notebook_dir_set(Path(path).resolve().parent):
        execute_cells(notebook.learner_code(), namespace, Path(path).name)
    return InProcessLearner(namespace)


def run_checks(learner: InProcessLearner, assignment_id: str, check_ids: Iterable[str] | None = None) -> dict[str, str | None]:
    """Check id -> ``None`` when it passed, else the failure message; all the assignment's
    checks, or only ``check_ids``."""
    results: dict[str, str | None] = {}
    wanted = None if check_ids is None else set(check_ids)
    for check in checks_for(assignment_id):
        if wanted is not None and check.id not in wanted:
            continue
        try:
            check.func(learner)
        except CheckFailed as failure:
            results[check.id] = str(failure)
        else:
            results[check.id] = None
    return results


def assert_every_check_passes(learner: InProcessLearner, assignment_id: str) -> None:
    """Every check of the assignment passes on ``learner`` (e.g. the solution)."""
    results = run_checks(learner, assignment_id)
    assert results == {check_id: None for check_id in results}


def assert_every_check_says_not_implemented(learner: InProcessLearner, assignment_id: str) -> None:
    """Every check fails on ``learner`` (a blank notebook) saying the function is not implemented."""
    results = run_checks(learner, assignment_id)
    assert all(message and "not implemented yet" in message for message in results.values()), results


def assert_one_edit_each(assignment_id: str, replacements: Mapping[str, str]) -> None:
    """Each seeded bug's text occurs exactly once in the solution's learner code."""
    code = "".join(c.source for c in read_notebook(get_assignment(assignment_id).solution_path).learner_code())
    assert all(code.count(old) == 1 for old in replacements), "each seeded bug must be one unambiguous edit"


def pair_or_int(low: int, high: int) -> st.SearchStrategy[int | tuple[int, int]]:
    """An int or an (h, w) pair in [low, high], as kernel sizes, strides and paddings may be."""
    return st.integers(low, high) | st.tuples(st.integers(low, high), st.integers(low, high))


def write_variant(assignment_id: str, replacements: Mapping[str, str], directory: Path) -> Path:
    """Copy the solution notebook with text replacements applied to its code cells.

    Each ``old -> new`` must occur in the learner code, so a variant cannot silently stop
    seeding its bug when the solution changes. The copy keeps the assignment's folder layout
    (``directory/<assignment>/<notebook>``) and sibling solution notebooks are copied beside it,
    so 05 can import layers from 02-04.
    """
    assignment = get_assignment(assignment_id)
    variant = solution_with_replacements(assignment, replacements)
    # Siblings are copied, never linked: a later variant written into the same directory must
    # not be able to write through a link into the real solutions/.
    for sibling in assignment.solution_path.parent.parent.iterdir():
        copy = directory / sibling.name
        if sibling.is_dir() and not copy.exists():
            shutil.copytree(sibling, copy)
    target = directory / assignment.id / assignment.notebook
    target.parent.mkdir(parents=True, exist_ok=True)
    assert not target.parent.is_symlink(), f"refusing to write a variant through a link: {target.parent}"
    target.write_text(variant, encoding="utf-8")
    return target


SOLUTION_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?### END SOLUTION", re.S | re.M)


def blank_replacements(assignment_id: str) -> dict[str, str]:
    """``write_variant`` replacements that turn every solution region into nbgrader's stub
    (``# YOUR CODE HERE`` / ``raise NotImplementedError()``), as in the generated exercise."""
    data = json.loads(get_assignment(assignment_id).solution_path.read_text())
    replacements = {}
    for cell in data["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for match in SOLUTION_REGION.finditer(source):
            indent = match.group(1)
            replacements[match.group(0)] = f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()"
    return replacements


def assert_test_cells_match_checks(assignment_id: str) -> None:
    """The solution notebook has one locked test cell per registered check (public and hidden),
    with the check's points, ``grade_id`` and the contract's source (CONTRIBUTING.md)."""
    problems = mismatches(get_assignment(assignment_id))
    assert not problems, "\n".join(problems)


def assert_matches_torch(got: np.ndarray, expected: Any, tolerance: float = 1e-10) -> None:
    """``got`` has the oracle's shape and is within ``tolerance`` of it, relative to the
    output scale ``max(1, max|expected|)``; ``expected`` is a torch tensor or an array."""
    expected = np.asarray(expected.detach().numpy() if hasattr(expected, "detach") else expected, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert np.max(np.abs(got.astype(np.float64) - expected), initial=0.0) <= tolerance * scale


def assert_oracle_fixture_is_fresh(assignment_id: str) -> None:
    """Rebuilding the oracles with torch gives the stored ``oracle_data`` file (``make fixtures``)."""
    fresh, stored = build_oracles(get_assignment(assignment_id)), load_oracles(get_assignment(assignment_id).id)
    assert fresh.keys() == stored.keys()
    for key in fresh:
        assert fresh[key].shape == stored[key].shape, key
        if fresh[key].dtype.kind == "f":
            assert np.allclose(fresh[key], stored[key], rtol=0, atol=1e-12), key
        else:  # counts, shapes, layer descriptions
            assert np.array_equal(fresh[key], stored[key]), key


def assert_grading_imports_no_torch(assignment_id: str) -> None:
    """Every check passes on the solution in a fresh process that never imports torch."""
    code = (
        "import sys\n"
        "from autograder.assignments import get_assignment\n"
        "from autograder.learner import InProcessLearner\n"
        "from autograder.notebook import load_functions\n"
        "from autograder.registry import checks_for\n"
        f"learner = InProcessLearner(load_functions(get_assignment({assignment_id!r}).solution_path))\n"
        f"for check in checks_for({assignment_id!r}):\n"
        "    check.func(learner)\n"
        "assert 'torch' not in sys.modules, 'grading imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=120)


def assert_notebook_is_numpy_only(assignment_id: str) -> None:
    """The solution notebook names its assignment and imports none of the forbidden modules."""
    notebook = read_notebook(get_assignment(assignment_id).solution_path)
    assert notebook.metadata["cnn_course"]["assignment"] == assignment_id
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for module in FORBIDDEN_IN_NUMPY_ASSIGNMENTS:
        assert f"import {module}" not in code and f"from {module}" not in code, module


def assert_seeded_bug_caught(results: Mapping[str, str | None], failing: set[str], hints: Mapping[str, str]) -> None:
    """Exactly the ``failing`` checks fail, and the message of each check in ``hints`` contains its hint."""
    assert {check_id for check_id, message in results.items() if message} == failing, results
    for hinted, hint in hints.items():
        assert hint in (results[hinted] or ""), results[hinted]


def assert_hint_in_chinese(message: str | None, hint: str) -> None:
    """``message`` (graded with the language set to zh_CN) carries the Chinese translation of the
    English ``hint``, and not the English."""
    chinese = translate(hint, lang=CHINESE)
    assert chinese != hint, f"the zh_CN catalog has no translation of: {hint}"
    assert message and chinese in message and hint not in message, message


@pytest.fixture
def in_chinese(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The grader speaks Chinese during the test, whatever language was chosen before it; after
    it, the environment's language again."""
    monkeypatch.setenv(LANG_ENV_VAR, CHINESE)
    set_language(CHINESE)
    yield
    set_language(None)


def assert_seeded_variant_caught(variant_learner: Callable[..., InProcessLearner], assignment_id: str, variant: tuple[Mapping[str, str], list[str], set[str], Mapping[str, str]]) -> None:
    """A seeded-bug variant ``(replacements, checks to run, checks that must fail, check -> hint
    in its failure)``: each replacement is one unambiguous edit of the solution, and running the
    named checks on the variant fails exactly those with those hints."""
    replacements, to_run, failing, hints = variant
    assert_one_edit_each(assignment_id, replacements)
    assert_seeded_bug_caught(run_checks(variant_learner(assignment_id, replacements), assignment_id, to_run), failing, hints)


@pytest.fixture(scope="module")
def solution(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The solution notebook's functions for the test module's ``ASSIGNMENT`` (e.g. "01-convolution")."""
    return solution_functions(request.module.ASSIGNMENT)


@pytest.fixture
def solution_learner() -> Callable[[str], InProcessLearner]:
    """``solution_learner("02")`` -> a learner over the solution notebook's functions."""
    return lambda assignment_id: learner_from_notebook(get_assignment(assignment_id).solution_path)


@pytest.fixture
def variant_learner(tmp_path: Path) -> Callable[[str, Mapping[str, str]], InProcessLearner]:
    """``variant_learner("01", {"k[::-1, ::-1]": "k"})`` -> a learner over a seeded-bug copy."""
    return lambda assignment_id, replacements: learner_from_notebook(write_variant(assignment_id, replacements, tmp_path))


@pytest.fixture
def blank_learner(tmp_path: Path) -> Callable[[str], InProcessLearner]:
    """``blank_learner("02")`` -> a learner over the solution with every solution region
    replaced by nbgrader's stub, without running nbgrader."""
    return lambda assignment_id: learner_from_notebook(write_variant(assignment_id, blank_replacements(assignment_id), tmp_path))


# ---------------------------------------------------------------------------------------------
# 06's solution, graded once per session through the command line (its accuracy gate trains for
# about a minute): tests/test_training.py and the nbgrader parity test share this one run. 07's too.

def once_per_session(tmp_path_factory: pytest.TempPathFactory, name: str, compute: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """``compute(folder)``'s JSON-able outcome, computed once per test session: under xdist every
    worker asks; the first computes it into the session's shared temporary folder ``name`` under
    a file lock, the others wait and reuse it (its users sit in different ``xdist_group``s)."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    shared.mkdir(parents=True, exist_ok=True)
    with open(shared / "lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        outcome = shared / "outcome.json"
        if not outcome.exists():
            outcome.write_text(json.dumps(compute(shared)), encoding="utf-8")
        return json.loads(outcome.read_text(encoding="utf-8"))


def _grade_training_solution(folder: Path, assignment_id: str = "06") -> dict[str, Any]:
    """``python -m autograder solutions/06-training/training.ipynb --official --json`` (or
    another assignment's solution): its results.json plus the run's ``stderr`` (the gate's
    progress lines), or ``{"failure": ...}``."""
    results = folder / "results.json"
    command = [sys.executable, "-m", "autograder", str(get_assignment(assignment_id).solution_path), "--official", "--quiet", "--json", str(results)]
    run = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    if run.returncode != 0 or not results.exists():
        return {"failure": f"exit {run.returncode}: {run.stdout[-1500:]}{run.stderr[-1500:]}"}
    return {**json.loads(results.read_text()), "stderr": run.stderr}


@pytest.fixture(scope="session")
def training_solution_graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    graded = once_per_session(tmp_path_factory, "06-solution-graded", _grade_training_solution)
    if "failure" in graded:
        pytest.fail(f"grading 06's solution failed: {graded['failure']}")
    return graded


# 07's solution likewise: its gate trains fit_mnist on 60,000 images, and its transfer check
# trains three small models (tests/test_pytorch.py and the nbgrader parity test share the run).
@pytest.fixture(scope="session")
def pytorch_solution_graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    graded = once_per_session(tmp_path_factory, "07-solution-graded", lambda folder: _grade_training_solution(folder, "07"))
    if "failure" in graded:
        pytest.fail(f"grading 07's solution failed: {graded['failure']}")
    return graded
