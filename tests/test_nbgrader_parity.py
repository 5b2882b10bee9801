"""nbgrader autograde and ``python -m autograder`` give the same total for the same notebook.

One temporary nbgrader course (source = ``solutions/``) receives submissions from several
students: the solutions, the blank exercises, seeded bugs, a notebook with Jupyter-only syntax
(magics, `!` commands), and a 05 handed in without its 02-04
siblings (05 imports the learner's layers from ``../02-padding-stride/`` and so on; its checks
swap in the grader's stand-in layers, so its points must not depend on them). nbgrader autogrades each
assignment for all students in one call; each total is compared with the command-line grader's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pytest
from conftest import write_variant

from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.notebook import notebook_dir_set
from autograder.notebook_i18n import write_translated_sources
from autograder.paths import REPO_ROOT
from autograder.registry import max_points
from autograder.release import load_nbgrader_config, temp_course

pytestmark = [
    pytest.mark.slow,
    pytest.mark.nbgrader,
    pytest.mark.xdist_group("nbgrader-parity"),  # one worker builds the course once
    # nbgrader 0.9.6's gradebook code trips SQLAlchemy 2's autoflush warnings; harmless here.
    pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning"),
]

# student -> (assignment, text replacements seeding a classic bug in the solution)
BROKEN: dict[str, tuple[str, Mapping[str, str]]] = {
    "bug-stride-ignored": (
        "02-padding-stride",
        {"sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]": "sliding_window_view(xp, (kh, kw), axis=(2, 3))"},
    ),
    "bug-pad-one-side": (
        "02-padding-stride",
        {"np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))": "np.pad(x, ((0, 0), (0, 0), (0, 2 * ph), (0, 2 * pw)))"},
    ),
    "bug-relu-grad-at-zero": ("04-backprop", {"return dout * (x > 0)": "return dout * (x >= 0)"}),
    "bug-shortcut-gradient": ("08-modern", {"return dx + dx_shortcut, grads": "return dx, grads"}),
    # torch in 08's NumPy part: both graders fail that function's check (Learner.call_numpy_only)
    "bug-torch-in-numpy-part": ("08-modern", {"[:, None, None]\n    return out\n": "[:, None, None]\n    return torch.from_numpy(out).numpy()\n"}),
}
ESCAPE = Path(tempfile.gettempdir()) / f"cnn-course-escaped-{uuid.uuid4().hex}.txt"  # outside every sandbox
# student -> (assignment, replacements that change nothing a grader should see): Jupyter
# syntax the kernel runs and the command line, without a kernel, must get past; stderr output
# from a graded function, which nbgrader would score 0 in a test cell.
HARMLESS: dict[str, tuple[str, Mapping[str, str]]] = {
    "ipython-magics": (
        "03-pooling",
        {"import numpy as np\n": "%matplotlib inline\nimport numpy as np\n!echo installing nothing\n",
         "def maxpool2d_forward(": "%%time\ndef maxpool2d_forward("},
    ),
    "debug-prints-to-stderr": (
        "01-convolution",
        {"def sobel_magnitude(img):\n": "def sobel_magnitude(img):\n    import sys, warnings\n"
         "    print('debugging sobel_magnitude', file=sys.stderr)\n    warnings.warn('a learner warning')\n"},
    ),
    "writes-outside-the-sandbox": (
        "01-convolution",
        {"import numpy as np\n": f"import numpy as np\ntry:\n    open({str(ESCAPE)!r}, 'w').write('escaped')\nexcept OSError:\n    pass\n"},
    ),
}
LONE_05 = "only-05"
CHINESE = "zh-solution"  # the Chinese notebook (exercises/zh_CN/), handed in under the same name


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: Assignment

    @property
    def name(self) -> str:
        return f"{self.student}-{self.assignment.id}"


# graded once per session by conftest's fixtures (training_solution_graded, pytorch_solution_graded)
TRAINED_SOLUTIONS = ("solution-06-training", "solution-07-pytorch")
SUBMISSIONS: list[Submission] = [
    *(Submission("solution", a) for a in ASSIGNMENTS),
    *(Submission("blank", a) for a in ASSIGNMENTS),
    *(Submission(student, get_assignment(assignment_id)) for student, (assignment_id, _) in (BROKEN | HARMLESS).items()),
    Submission(LONE_05, get_assignment("05")),
    Submission(CHINESE, get_assignment("03")),
]


def _handed_in(submission: Submission, root: Path) -> Path:
    """The notebook a student hands in: the released blank, the solution or a seeded bug."""
    if submission.student in BROKEN | HARMLESS:
        assignment_id, replacements = (BROKEN | HARMLESS)[submission.student]
        return write_variant(assignment_id, replacements, root / "variants" / submission.student)
    if submission.student == CHINESE:
        path = root / "variants" / CHINESE / submission.assignment.id / submission.assignment.notebook
        write_translated_sources([submission.assignment], "zh_CN", path.parent.parent)
        return path
    if submission.student == "blank":
        return root / "release" / submission.assignment.id / submission.assignment.notebook
    return submission.assignment.solution_path


def _autograde(root: Path, db_url: str, assignment_id: str) -> None:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    config = load_nbgrader_config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = db_url
    config.CourseDirectory.source_directory = "source"
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment_id
    coursedir.student_id = "*"
    converter = Autograde(coursedir=coursedir, config=config)
    converter.force = True
    converter.start()


def _start_cli(notebooks: list[Path], results_json: Path) -> subprocess.Popen[str]:
    """``python -m autograder NOTEBOOK ... --json FILE``, started in the background."""
    # --official: nbgrader autograde restores the hidden tests, so both grade public + hidden checks
    command = [sys.executable, "-m", "autograder", *map(str, notebooks), "--json", str(results_json), "--jobs", "2", "--quiet", "--official"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT)


def _cli_scores(cli: subprocess.Popen[str], results_json: Path) -> dict[Path, float]:
    """Notebook -> its total from the run's Gradescope results.json (the overall ``score`` and
    one entry per notebook)."""
    output, _ = cli.communicate()
    assert cli.returncode == 0, f"python -m autograder exited {cli.returncode}: {output[-2000:]}"
    results = json.loads(results_json.read_text())
    scores = {Path(n["path"]).resolve(): float(n["score"]) for n in results["extra_data"]["notebooks"]}
    assert sum(scores.values()) == results["score"]
    return scores


@pytest.fixture(scope="module")
def totals(tmp_path_factory: pytest.TempPathFactory, training_solution_graded: dict[str, Any], pytorch_solution_graded: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Submission name -> (nbgrader total, command-line total). 06's and 07's solutions are not graded by
    this module's command-line run: their accuracy gates train for a minute, and the session grades
    it once through the command line already (conftest's ``training_solution_graded``, also
    ``--official``), so its total comes from there."""
    from nbgrader.api import Gradebook

    root = tmp_path_factory.mktemp("course")
    db_url = temp_course(root, [a.id for a in ASSIGNMENTS])
    for submission in SUBMISSIONS:
        target = root / "submitted" / submission.student / submission.assignment.id / submission.assignment.notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_handed_in(submission, root), target)

    handed_in = {s.name: root / "submitted" / s.student / s.assignment.id / s.assignment.notebook for s in SUBMISSIONS}
    with notebook_dir_set(None):  # each kernel finds siblings from its own folder
        cli_run = _start_cli([p for name, p in handed_in.items() if name not in TRAINED_SOLUTIONS], root / "results.json")  # grades while nbgrader does
        try:
            for assignment in ASSIGNMENTS:  # in order: 05's siblings are autograded before it
                _autograde(root, db_url, assignment.id)
            scores = _cli_scores(cli_run, root / "results.json")
        finally:
            if cli_run.poll() is None:
                cli_run.kill()
                cli_run.wait()
    cli = {name: scores[path.resolve()] for name, path in handed_in.items() if name not in TRAINED_SOLUTIONS}
    cli["solution-06-training"] = float(training_solution_graded["score"])
    cli["solution-07-pytorch"] = float(pytorch_solution_graded["score"])

    with Gradebook(db_url) as gradebook:
        nbgrader = {s.name: float(gradebook.find_submission(s.assignment.id, s.student).score) for s in SUBMISSIONS}
    table = "\n".join(f"{name:45} nbgrader {nbgrader[name]:6g}   cli {cli[name]:6g}" for name in nbgrader)
    print(f"\nnbgrader autograde vs python -m autograder:\n{table}")
    return {name: (nbgrader[name], cli[name]) for name in nbgrader}


@pytest.mark.parametrize("submission", [pytest.param(s, id=s.name) for s in SUBMISSIONS])
def test_nbgrader_total_equals_the_cli_total(submission: Submission, totals: dict[str, tuple[float, float]]) -> None:
    nbgrader, cli = totals[submission.name]
    assert nbgrader == cli, f"{submission.name}: nbgrader autograde gives {nbgrader:g}, python -m autograder {cli:g}"


@pytest.mark.parametrize("assignment", [pytest.param(a, id=a.id) for a in ASSIGNMENTS])
def test_nbgrader_gives_solutions_full_marks_and_blanks_none(assignment: Assignment, totals: dict[str, tuple[float, float]]) -> None:
    assert totals[f"solution-{assignment.id}"][0] == max_points(assignment, include_hidden=True)  # nbgrader autograde restores the hidden tests
    assert totals[f"blank-{assignment.id}"][0] == 0


@pytest.mark.parametrize("student", list(BROKEN))
def test_nbgrader_takes_points_off_each_seeded_bug(student: str, totals: dict[str, tuple[float, float]]) -> None:
    assignment = get_assignment(BROKEN[student][0])
    assert 0 < totals[f"{student}-{assignment.id}"][0] < max_points(assignment, include_hidden=True)


@pytest.mark.parametrize("student", list(HARMLESS))
def test_jupyter_only_syntax_costs_nothing_in_either_grader(student: str, totals: dict[str, tuple[float, float]]) -> None:
    assignment = get_assignment(HARMLESS[student][0])
    assert totals[f"{student}-{assignment.id}"] == (max_points(assignment, include_hidden=True),) * 2


def test_05_handed_in_alone_scores_as_with_its_siblings(totals: dict[str, tuple[float, float]]) -> None:
    assert totals[f"{LONE_05}-05-architectures"] == totals["solution-05-architectures"]


def test_nbgrader_runs_learner_code_in_the_sandbox_too(totals: dict[str, tuple[float, float]]) -> None:
    nbgrader, cli = totals["writes-outside-the-sandbox-01-convolution"]
    assert nbgrader == cli == max_points("01-convolution", include_hidden=True)
    assert not ESCAPE.exists(), "a notebook wrote outside the sandbox under nbgrader autograde"


def test_the_chinese_notebook_scores_as_the_english_one_in_both_graders(totals: dict[str, tuple[float, float]]) -> None:
    assert totals[f"{CHINESE}-03-pooling"] == totals["solution-03-pooling"] == (max_points("03", include_hidden=True),) * 2
