"""Feedback a learner can trust: a failure quotes the learner's own line with a cell number
Jupyter shows, never the course's solution, and a function that writes into its inputs fails."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autograder.assignments import get_assignment
from autograder.engine import grade_notebook
from autograder.learner import InProcessLearner, LearnerError
from autograder.notebook import read_notebook
from autograder.report import gradescope

from conftest import learner_from_notebook, run_checks, write_variant

PLANTED = "planted_error = x.shape[99]  # planted by the test"
# assignment -> (a line of the solution the planted line goes above, a check that reaches it)
PLANTS = {
    "01-convolution": ("    return sum(corr2d(x_c, k_c) for x_c, k_c in zip(x, k))", "01.corr2d_multi_in.random"),
    "02-padding-stride": ("    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]", "02.conv2d_forward.basic"),
    "03-pooling": ("    return x.mean(axis=(2, 3))", "03.global_avgpool.basic"),
    "04-backprop": ("    return np.maximum(x, 0)", "04.relu_forward.values"),
    "05-architectures": ("    h = relu_forward(conv2d_forward(x, params[\"conv1.weight\"], params[\"conv1.bias\"], padding=2))", "05.lenet5_forward.logits"),
}


def planted_notebook(assignment_id: str, directory: Path) -> Path:
    line, _ = PLANTS[assignment_id]
    indent = line[: len(line) - len(line.lstrip())]
    return write_variant(assignment_id, {line: f"{indent}{PLANTED}\n{line}"}, directory)


def where_planted(path: Path) -> str:
    """``"code cell 7 of 23, line 12"`` for the planted line, found independently of the grader."""
    notebook = json.loads(path.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    for number, cell in enumerate(code, start=1):
        lines = "".join(cell["source"]).splitlines()
        for lineno, text in enumerate(lines, start=1):
            if PLANTED in text:
                return f"code cell {number} of {len(code)}, line {lineno}"
    raise AssertionError("the planted line is missing")


@pytest.mark.parametrize("assignment_id", sorted(PLANTS))
def test_the_command_line_quotes_the_learners_line_and_cell_never_the_solutions(assignment_id: str, tmp_path: Path) -> None:
    path = planted_notebook(assignment_id, tmp_path)
    check_id = PLANTS[assignment_id][1]
    result = grade_notebook(path, only=check_id)
    [check] = result.checks
    assert not check.passed
    assert f"({where_planted(path)}: `{PLANTED}`)" in check.message, check.message


def test_in_process_grading_quotes_the_same_learner_line(tmp_path: Path) -> None:
    path = planted_notebook("01-convolution", tmp_path)
    learner = learner_from_notebook(path)
    with pytest.raises(LearnerError) as failure:
        learner.call("corr2d_multi_in", np.ones((2, 3, 3)), np.ones((2, 2, 2)))
    assert f"({where_planted(path)}: `{PLANTED}`)" in str(failure.value)


def test_cell_labels_count_code_cells_as_jupyter_shows_them() -> None:
    notebook = read_notebook(get_assignment("01-convolution").solution_path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.label for c in code] == [f"code cell {i} of {len(code)}" for i in range(1, len(code) + 1)]
    assert all(c.label == "" for c in notebook.cells if c.cell_type != "code")


# -- inputs are read-only --------------------------------------------------------------------

IN_PLACE = {
    # name: (assignment, replacements, check, argument named in the message)
    "corr2d scales x in place": ("01-convolution", {"    kh, kw = k.shape\n": "    kh, kw = k.shape\n    x *= 2\n", "np.sum(x[i:i + kh, j:j + kw] * k)": "np.sum(x[i:i + kh, j:j + kw] * k) / 2"}, "01.corr2d.random", "x"),
    "sobel_magnitude shifts img in place": ("01-convolution", {"    gx = corr2d(img, gx_kernel)": "    img -= img.min()\n    gx = corr2d(img, gx_kernel)"}, "01.sobel_magnitude.images", "img"),
    "relu_forward zeroes x in place": ("04-backprop", {"    return np.maximum(x, 0)": "    x[x < 0] = 0\n    return x"}, "04.relu_forward.values", "x"),
    "global_avgpool divides x in place": ("03-pooling", {"    return x.mean(axis=(2, 3))": "    x /= x.shape[2] * x.shape[3]\n    return x.sum(axis=(2, 3))"}, "03.global_avgpool.basic", "x"),
}


@pytest.fixture(scope="module")
def in_place_learners(tmp_path_factory: pytest.TempPathFactory) -> dict[str, InProcessLearner]:
    return {
        name: learner_from_notebook(write_variant(assignment, replacements, tmp_path_factory.mktemp("in_place")))
        for name, (assignment, replacements, _, _) in IN_PLACE.items()
    }


@pytest.mark.parametrize("name", sorted(IN_PLACE))
def test_a_function_that_writes_into_its_input_fails_naming_the_argument(name: str, in_place_learners: dict[str, InProcessLearner]) -> None:
    assignment, _, check_id, argument = IN_PLACE[name]
    message = run_checks(in_place_learners[name], assignment, [check_id])[check_id]
    assert message, f"{check_id} passed although the input was changed"
    function = check_id.split(".")[1]
    assert f"{function} changed its argument {argument} in place; work on a copy ({argument} = {argument}.copy()) or build a new array." in message


def test_the_sandbox_grades_inputs_changed_in_place_too(tmp_path: Path) -> None:
    assignment, replacements, check_id, _ = IN_PLACE["relu_forward zeroes x in place"]
    result = grade_notebook(write_variant(assignment, replacements, tmp_path), only=check_id)
    [check] = result.checks
    assert not check.passed and "relu_forward changed its argument x in place" in check.message, check.message


def test_changes_to_shape_dtype_and_arrays_inside_containers_are_noticed() -> None:
    def reshape(x: np.ndarray) -> None:
        x.shape = (x.size,)

    def params_scaled(params: dict[str, np.ndarray]) -> None:
        params["w"] *= 0.5

    def untouched(x: np.ndarray, params: dict[str, np.ndarray]) -> float:
        return float(x.sum() + params["w"].sum())

    learner = InProcessLearner({"reshape": reshape, "params_scaled": params_scaled, "untouched": untouched})
    with pytest.raises(LearnerError, match=r"reshape changed its argument x in place"):
        learner.call("reshape", np.ones((2, 3)))
    with pytest.raises(LearnerError, match=r"params_scaled changed its argument params\['w'\] in place; work on a copy or build a new array"):
        learner.call("params_scaled", {"w": np.ones(3)})
    assert learner.call("untouched", np.full(2, np.nan), params={"w": np.ones(3)}) != 0  # NaN inputs left alone are unchanged


def test_gradescope_json_carries_the_05_own_layers_report() -> None:
    from autograder.engine import NotebookResult

    result = NotebookResult(path=Path("architectures.ipynb"), assignment="05-architectures", checks=[], info="Your own layers: lenet5_forward reproduces the reference.")
    data = gradescope([result], 1.0)
    assert data["extra_data"]["notebooks"][0]["info"] == result.info
    assert result.info in data["output"]


INSTRUCTOR_COMMANDS = ("make exercises", "make fixtures", "make train", "make test", "autograder.release", "nbgrader ")
# what a learner's grading run can print: the CLI, the engine, the sandbox, the checks and their helpers
LEARNER_FACING = ["cli.py", "engine.py", "learner.py", "compare.py", "report.py", "sandbox.py", "notebook.py", "oracles.py", "selfcheck.py", "batch.py", "checks"]


def test_no_message_to_learners_suggests_an_instructor_command() -> None:
    import ast

    from autograder.paths import PACKAGE_DIR

    files = [p for name in LEARNER_FACING for p in ([PACKAGE_DIR / name] if name.endswith(".py") else sorted((PACKAGE_DIR / name).glob("*.py")))]
    offending = []
    for path in files:
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree) if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                offending += [f"{path.name}:{node.lineno}: {command}" for command in INSTRUCTOR_COMMANDS if command in node.value]
    assert not offending, offending


def test_every_documented_raises_of_a_learner_function_is_graded() -> None:
    import ast

    from autograder.assignments import ASSIGNMENTS
    from autograder.registry import checks_for

    documented = []
    for assignment in ASSIGNMENTS:
        for cell in read_notebook(assignment.solution_path).learner_code():
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            documented += [(assignment, node.name) for node in tree.body if isinstance(node, ast.FunctionDef) and "Raises:" in (ast.get_docstring(node) or "")]
    assert documented, "no solution documents a Raises: section"
    for assignment, name in documented:
        graded = [c.id for c in checks_for(assignment) if c.id.split(".")[1] == name and c.id.split(".")[2] in ("errors", "invalid_p")]
        assert graded, f"{name} documents Raises: but no check of {assignment.id} grades it"


def test_a_self_check_reports_a_function_that_changes_its_input(capsys: pytest.CaptureFixture[str]) -> None:
    from autograder.selfcheck import inputs_unchanged, selfcheck

    def relu_forward(x: np.ndarray) -> np.ndarray:
        x[x < 0] = 0
        return x

    with selfcheck("relu"):
        inputs_unchanged(relu_forward, np.array([-1.0, 2.0]))
    assert capsys.readouterr().out.strip() == "✗ relu: relu_forward changed its argument x in place; work on a copy (x = x.copy()) or build a new array."
    with selfcheck("relu"):
        inputs_unchanged(lambda x: np.maximum(x, 0), np.array([-1.0, 2.0]))
    assert capsys.readouterr().out.startswith("✓ relu")
