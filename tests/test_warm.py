"""Warm workers (autograder.isolation.warm): a notebook graded by a fork of a warm template
scores exactly as in a cold child, and nothing of one learner's run is visible to the next.

The hostile suite runs through ``--batch`` with warm workers in test_hostile.py; here one
learner disarms the audit hook and then pollutes everything a fork can reach (files in every
writable folder, patched NumPy, globals, an imported module, processes left running), and the
next learner, forked from the same template, reports what it sees.
"""

from __future__ import annotations

import json
import re

import pytest

from autograder import batch, engine
from autograder.assignments import ASSIGNMENTS, get_assignment
from autograder.isolation.warm import shared_pool
from autograder.sandbox import WARM_ENV_VAR

from hostile import BASE, require_bwrap, solution_with

pytestmark = pytest.mark.xdist_group("sandbox-timing")

UNHOOK = (__import__("pathlib").Path(__file__).parent / "hostile" / "unhook.py").read_text()
MARKER = "3131.313131"  # sleep's argument of the processes the polluter leaves
POLLUTE = f"""
import builtins, io, os, sys, types, time
import numpy as np
# (the unhook prelude overwrote the interned name "open": FileIO instead)
for folder in ('.', os.environ.get('TMPDIR', '.'), '/dev', '/dev/shm', '/sandbox/notebooks', '/sandbox/notebooks/{BASE}'):
    try:
        io.FileIO(os.path.join(folder, 'left_by_polluter.txt'), 'w').write(b'secret')
    except OSError:
        pass
np.pad = lambda *args, **kwargs: 'patched by the polluter'
np.sum = np.pad
builtins.LEFT_BY_POLLUTER = 'secret'
sys.modules['left_by_polluter'] = types.ModuleType('left_by_polluter')
for _ in range(2):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv('/bin/sleep', ['sleep', '{MARKER}'])
        os._exit(0)
time.sleep(0.2)
_left = [f for f in ('left_by_polluter.txt', os.path.join(os.environ.get('TMPDIR', '.'), 'left_by_polluter.txt'), '/dev/left_by_polluter.txt', '/dev/shm/left_by_polluter.txt') if os.path.exists(f)]
_alive = [p for p in os.listdir('/proc') if p.isdigit() and b'{MARKER}' in io.FileIO(f'/proc/{{p}}/cmdline').read()]
print(f'POLLUTED files={{len(_left)}} processes={{len(_alive)}} np_sum={{np.sum(1)}}')
"""
OBSERVE = f"""
import builtins, json, os, sys
import numpy as np

def _listing(folder):
    try:
        return sorted(os.listdir(folder))
    except OSError as exc:
        return type(exc).__name__

def _cmdlines():
    found = []
    for pid in os.listdir('/proc'):
        try:
            found.append(open(f'/proc/{{pid}}/cmdline', 'rb').read().decode(errors='replace'))
        except OSError:
            pass
    return found

OBSERVED = {{
    'work': _listing('.'), 'tmp': _listing(os.environ.get('TMPDIR', '.')), 'shm': _listing('/dev/shm'), 'dev': 'left_by_polluter.txt' in _listing('/dev'),
    'notebooks': _listing('/sandbox/notebooks'), 'own_folder': _listing('/sandbox/notebooks/{BASE}'),
    'builtins': hasattr(builtins, 'LEFT_BY_POLLUTER'), 'module': 'left_by_polluter' in sys.modules,
    'np_pad': np.pad.__module__, 'np_sum': np.sum(np.ones(3)).item(),
    'processes': [c for c in _cmdlines() if '{MARKER}' in c],
}}
print('OBSERVED ' + json.dumps(OBSERVED))
"""


@pytest.fixture(scope="module")
def warm_batch(tmp_path_factory):
    """A polluter then an observer, graded one after another by this process's warm pool."""
    require_bwrap()
    root = tmp_path_factory.mktemp("warm") / "batch"
    solution_with(root / "a_polluter", {}, extra_cells=(UNHOOK, POLLUTE))
    solution_with(root / "b_observer", {}, extra_cells=(OBSERVE,))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WARM_ENV_VAR, "require")
        started = shared_pool().started
        rows = batch.grade_batch(batch.discover(root), warm=True, strict=True)
        templates = shared_pool().started - started
    return dict(rows), templates


def test_the_next_learner_sees_nothing_the_previous_one_left(warm_batch):
    results, templates = warm_batch
    assert templates == 1  # both notebooks were forks of one template, cleaned in between
    observed = json.loads(re.search(r"OBSERVED (\{.*\})", results["b_observer"].output).group(1))
    polluted = re.search(r"POLLUTED files=(\d+) processes=(\d+) np_sum=(.*)", results["a_polluter"].output)
    assert int(polluted.group(1)) >= 4 and int(polluted.group(2)) >= 2 and "patched" in polluted.group(3)  # the attack worked in its own fork
    assert observed.pop("shm") in ([], "FileNotFoundError")
    assert observed == {
        "work": ["tmp"], "tmp": [],
        "notebooks": [BASE], "own_folder": ["padding_stride.ipynb"],
        "dev": False, "builtins": False, "module": False, "np_pad": "numpy", "np_sum": 3.0, "processes": [],
    }


def test_the_polluter_loses_points_and_the_observer_gets_them_all(warm_batch):
    results, _ = warm_batch
    polluter, observer = results["a_polluter"], results["b_observer"]
    assert not polluter.error and 0 < polluter.score < polluter.max_score  # its own patched np.pad
    assert not observer.error and observer.checks and observer.score == observer.max_score


@pytest.fixture(scope="module")
def course_notebooks():
    """Every assignment's solution and blank exercise, graded cold and warm (not 07's solution:
    its gate trains fit_mnist on 60,000 images, twice here; conftest grades it once per session)."""
    require_bwrap()
    paths = [p for a in ASSIGNMENTS for p in (a.solution_path, a.exercise_path) if p.is_file() and p != get_assignment("07").solution_path]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WARM_ENV_VAR, "require")
        cold = engine.grade_many([engine.Submission(p) for p in paths], strict=True)
        warm = engine.grade_many([engine.Submission(p) for p in paths], strict=True, warm=True)
    return paths, cold, warm


def test_warm_and_cold_scores_are_identical_on_every_course_notebook(course_notebooks):
    paths, cold, warm = course_notebooks
    assert len(paths) >= 2 * 6
    for path, c, w in zip(paths, cold, warm):
        assert not c.error and not w.error, (path, c.error, w.error)
        assert [(x.id, x.status, x.earned) for x in w.checks] == [(x.id, x.status, x.earned) for x in c.checks], path
        assert w.cell_errors == c.cell_errors and w.forbidden_imports == c.forbidden_imports, path
    assert any(r.score == r.max_score > 0 for r in warm) and any(r.score < r.max_score for r in warm)
