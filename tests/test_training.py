"""06-training: the solution against PyTorch, the oracle fixture, the checks on the solution
(the accuracy gate once per session), on a blank notebook and on seeded-bug variants, and the
own-layers report with broken 04 layers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pytest
import torch

from autograder.assignments import get_assignment
from autograder.checks import training
from autograder.learner import InProcessLearner
from autograder.notebook import solution_functions
from autograder.oracles import load_oracles
from autograder.registry import checks_for, get_check

from conftest import (
    assert_every_check_says_not_implemented,
    assert_hint_in_chinese,
    assert_notebook_is_numpy_only,
    assert_oracle_fixture_is_fresh,
    assert_seeded_variant_caught,
    assert_test_cells_match_checks,
    REPO_ROOT,
    learner_from_notebook,
    run_checks,
)
from hostile import solution_with

pytestmark = pytest.mark.training

ASSIGNMENT = "06-training"
GATE = "06.train.accuracy"
CHEAP_CHECKS = [c.id for c in checks_for(ASSIGNMENT) if c.id != GATE]


@pytest.fixture(scope="module")
def solution_results() -> tuple[dict[str, str | None], str]:
    """Every check but the accuracy gate on the solution, in process (the gate runs once per
    session, through the command line: the ``training_solution_graded`` fixture of conftest.py),
    and the own-layers report."""
    learner = learner_from_notebook(get_assignment(ASSIGNMENT).solution_path)
    return run_checks(learner, ASSIGNMENT, CHEAP_CHECKS), training.own_layers_report(learner)


# ---------------------------------------------------------------------------------------------
# 1. The solution against PyTorch, directly


def test_model_backward_of_the_solution_equals_autograd_on_a_second_network_shape(solution: dict[str, Any]) -> None:
    rng = np.random.default_rng(3)
    params = solution["init_params"](rng, channels=(2, 3, 5), hidden=7, classes=4)
    x, y = rng.standard_normal((3, 2, 28, 28)), np.array([0, 3, 1])
    keep = training.dropout_keep(np.random.default_rng(9), (3, 7), 0.5)
    logits, cache = solution["model_forward"](params, x, True, np.random.default_rng(9), dropout=0.5)
    softmax_cross_entropy = solution_functions("04-backprop", ["softmax_cross_entropy"])["softmax_cross_entropy"]
    grads = solution["model_backward"](softmax_cross_entropy(logits, y)[1], cache, params)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    expected_logits = training.torch_forward(tensors, torch.from_numpy(x), torch.from_numpy(keep))
    torch.nn.functional.cross_entropy(expected_logits, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(logits, expected_logits.detach().numpy(), rtol=0, atol=1e-10)
    for key, tensor in tensors.items():
        np.testing.assert_allclose(grads[key], tensor.grad.numpy(), rtol=0, atol=1e-10, err_msg=key)


def test_sgd_momentum_step_of_the_solution_equals_torch_over_five_steps_and_leaves_its_inputs_alone(solution: dict[str, Any]) -> None:
    rng = np.random.default_rng(4)
    params = {"a.weight": rng.standard_normal((2, 3)), "a.bias": rng.standard_normal(2)}
    grads = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(5)]
    expected = training.torch_sgd_steps(params, grads, lr=0.07, momentum=0.85, weight_decay=0.3)
    velocity: dict[str, np.ndarray] = {}
    for step_grads, want in zip(grads, expected):
        before = {k: v.copy() for k, v in params.items()}
        params, velocity = solution["sgd_momentum_step"](params, step_grads, velocity, 0.07, momentum=0.85, weight_decay=0.3)
        assert all(np.array_equal(before[k], v) for k, v in before.items())
        for key in params:
            np.testing.assert_allclose(params[key], want[key], rtol=1e-12, atol=1e-14)


def test_every_classic_trajectory_mistake_differs_from_the_right_trajectory_by_far_more_than_the_tolerance() -> None:
    oracles = load_oracles(ASSIGNMENT)  # equal to a fresh torch build: test_oracle_fixture_equals_a_fresh_torch_build
    right = oracles["trajectory.loss"]
    assert right.shape == (training.TRAJECTORY_STEPS,) and right[-1] < right[0]
    for mistake in training.TRAJECTORY_MISTAKES:
        assert np.max(np.abs(oracles[f"trajectory.wrong.{mistake}"] - right)) > 1e-6, mistake


def test_the_solution_notebook_imports_none_of_the_forbidden_modules() -> None:
    assert_notebook_is_numpy_only(ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 2. Oracle fixture


def test_oracle_fixture_equals_a_fresh_torch_build() -> None:
    assert_oracle_fixture_is_fresh(ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 3. Checks on the solution and on a blank notebook


def test_every_check_passes_on_the_solution(solution_results: tuple[dict[str, str | None], str]) -> None:
    results, _ = solution_results
    assert set(results) == {c.id for c in checks_for(ASSIGNMENT)} - {GATE}
    assert results == dict.fromkeys(results), {k: v for k, v in results.items() if v}


def test_the_solution_graded_officially_scores_every_point_the_gate_and_the_hidden_check_included(training_solution_graded: dict[str, Any]) -> None:
    scores = {t["number"]: (t["score"], t["max_score"]) for t in training_solution_graded["tests"]}
    every = checks_for(ASSIGNMENT, include_hidden=True)
    assert set(scores) == {c.id for c in every} and any(c.hidden for c in every)
    assert all(score == most for score, most in scores.values()), {k: v for k, v in scores.items() if v[0] != v[1]}
    assert "trained on 30,000 of 30,000 images" in training_solution_graded["stderr"]
    assert "✓ with all your own layers the gradients match autograd's" in training_solution_graded["extra_data"]["notebooks"][0]["info"]


def test_the_gate_prints_progress_lines_while_it_trains(capfd: pytest.CaptureFixture[str]) -> None:
    learner = learner_from_notebook(get_assignment(ASSIGNMENT).solution_path)
    learner.namespace["train"] = lambda params, *args, **kwargs: (params, {"loss": []})  # instant: progress only
    results = run_checks(learner, ASSIGNMENT, [GATE])
    err = capfd.readouterr().err
    assert "trained on 500 of 30,000 images" in err and "trained on 30,000 of 30,000 images" in err
    assert "needs 95%" in (results[GATE] or "")


def test_the_gate_title_states_its_accuracy_images_and_time_limit() -> None:
    assert get_check(GATE).title == f"train reaches {training.GATE_ACCURACY:.0%} test accuracy on {training.GATE_TRAIN_IMAGES:,} MNIST images within {training.GATE_TIME_LIMIT:.0f} s"


def test_the_gate_fails_a_train_over_the_time_limit_with_a_message_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "GATE_TIME_LIMIT", 0.0)
    learner = learner_from_notebook(get_assignment(ASSIGNMENT).solution_path)
    learner.namespace["train"] = lambda params, *args, **kwargs: (params, {"loss": []})
    message = run_checks(learner, ASSIGNMENT, [GATE])[GATE] or ""
    assert "over the 0 s limit" in message and "never image by image" in message


def test_the_own_layers_report_on_the_solution_is_clean(solution_results: tuple[dict[str, str | None], str]) -> None:
    assert "✓ with all your own layers the gradients match autograd's" in solution_results[1]


def test_every_check_fails_on_the_blank_notebook_saying_not_implemented(blank_learner: Callable[[str], InProcessLearner]) -> None:
    learner = blank_learner(ASSIGNMENT)
    assert_every_check_says_not_implemented(learner, ASSIGNMENT)
    assert "does not match autograd even with the course's layers" in training.own_layers_report(learner)


def test_points_total_20_and_the_notebook_has_one_locked_test_cell_per_check() -> None:
    assert sum(c.points for c in checks_for(ASSIGNMENT)) == 20
    assert_test_cells_match_checks(ASSIGNMENT)


def test_checks_other_than_the_gate_pass_on_the_solution_without_importing_torch() -> None:
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from conftest import learner_from_notebook\n"
        "from autograder.assignments import get_assignment\n"
        "from autograder.registry import checks_for\n"
        f"learner = learner_from_notebook(get_assignment({ASSIGNMENT!r}).solution_path)\n"
        f"for check in checks_for({ASSIGNMENT!r}):\n"
        f"    if check.id != {GATE!r}:\n"
        "        check.func(learner)\n"
        "assert 'torch' not in sys.modules, 'grading imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=120)


# ---------------------------------------------------------------------------------------------
# 4. Seeded bugs fail the right check with the right hint (the gate only where it is cheap)

SGD = "06.sgd_momentum_step.torch"
TRAJECTORY = "06.train.trajectory"
BACKWARD = "06.model_backward.autograd"
VARIANTS: dict[str, tuple[Mapping[str, str], list[str], set[str], Mapping[str, str]]] = {
    # name: (replacements, checks to run, checks that must fail, check -> hint in its failure)
    "weight decay added after momentum": (
        {"        if weight_decay and key.endswith(\".weight\"):\n            g = g + weight_decay * p\n": "",
         "new_params[key] = p - lr * v": "new_params[key] = p - lr * (v + (weight_decay * p if key.endswith(\".weight\") else 0.0))"},
        CHEAP_CHECKS, {SGD, TRAJECTORY}, {SGD: "before the momentum update", TRAJECTORY: "before the momentum update"}),
    "weight decay on the biases too": (
        {'if weight_decay and key.endswith(".weight"):': "if weight_decay:"},
        CHEAP_CHECKS, {SGD, TRAJECTORY}, {SGD: "weights (keys ending in '.weight') only", TRAJECTORY: "weights (keys ending in '.weight') only"}),
    "first momentum buffer damped": (
        {"v = g if key not in velocity else": "v = (1 - momentum) * g if key not in velocity else"},
        [SGD], {SGD}, {SGD: "the velocity is the gradient itself"}),
    "backward drops the dropout mask": (
        {'dh = dhd * cache["mask"]': "dh = dhd"},
        CHEAP_CHECKS, {BACKWARD, TRAJECTORY}, {BACKWARD: "same mask", TRAJECTORY: "same mask"}),
    "dropout not rescaled": (
        {"mask = (rng.random(h.shape) >= dropout) / (1.0 - dropout)": "mask = (rng.random(h.shape) >= dropout) * 1.0"},
        CHEAP_CHECKS, {"06.model_forward.dropout", BACKWARD, TRAJECTORY}, {"06.model_forward.dropout": "divides the kept units by (1 - p)", BACKWARD: "fix model_forward first"}),
    "labels not shuffled with the images": (
        {"softmax_cross_entropy(logits, y[batch])": "softmax_cross_entropy(logits, y[start:start + batch_size])"},
        [TRAJECTORY], {TRAJECTORY}, {TRAJECTORY: "index both x and y with the same batch"}),
    "velocity restarted every step": (
        {"params, velocity = sgd_momentum_step(params, grads, velocity, lr,": "params, velocity = sgd_momentum_step(params, grads, {}, lr,"},
        [TRAJECTORY], {TRAJECTORY}, {TRAJECTORY: "carry the velocity from step to step"}),
    "weights drawn with a fixed small scale": (
        {"return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)": "return rng.standard_normal(shape) * 0.01"},
        ["06.init_params.he"], {"06.init_params.he"}, {"06.init_params.he": "sqrt(2 / fan_in)"}),
    "predict returns the logits": (
        {"[0].argmax(axis=1)\n": "[0]\n"},
        ["06.predict.eval"], {"06.predict.eval"}, {"06.predict.eval": "logits.argmax(axis=1)"}),
    "train never loops over the data": (
        {"    for _ in range(epochs):\n": "    for _ in range(0):\n"},
        [TRAJECTORY, GATE], {TRAJECTORY, GATE}, {TRAJECTORY: "has shape (0,), expected (20,)", GATE: "needs 95%"}),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_seeded_bug_fails_exactly_the_right_checks_with_its_hint(variant_learner: Callable[..., InProcessLearner], name: str) -> None:
    assert_seeded_variant_caught(variant_learner, ASSIGNMENT, VARIANTS[name])


# ---------------------------------------------------------------------------------------------
# 5. Broken layers in 04 cost no points in 06; the report names them

BROKEN_RELU_BACKWARD = '''
# Seeded bug: the ReLU's gradient also flows where x == 0 and below.
def relu_backward(dout, x):
    return dout * (x >= -1.0)
'''


def test_broken_04_relu_backward_still_earns_the_06_points_and_the_report_names_it(tmp_path: Path) -> None:
    for assignment_id, extra in {"02": "", "03": "", "04": BROKEN_RELU_BACKWARD, "06": ""}.items():
        solution_with(tmp_path, extra_cells=[extra] if extra else [], assignment=get_assignment(assignment_id).id)
    learner = learner_from_notebook(tmp_path / get_assignment(ASSIGNMENT).id / get_assignment(ASSIGNMENT).notebook)
    assert {k: v for k, v in run_checks(learner, ASSIGNMENT, [BACKWARD, TRAJECTORY]).items() if v} == {}
    report = training.own_layers_report(learner)
    assert "✗ with all your own layers" in report
    assert "✗ your relu_backward (from 04-backprop)" in report
    assert "✓ your conv2d_backward (from 04-backprop) matches" in report


def test_a_seeded_bug_graded_in_chinese_gets_the_chinese_hint_and_not_the_english(variant_learner: Callable[..., InProcessLearner], in_chinese: None) -> None:
    results = run_checks(variant_learner(ASSIGNMENT, VARIANTS["weight decay on the biases too"][0]), ASSIGNMENT, [SGD])
    assert_hint_in_chinese(results[SGD], training.SGD_HINTS["decay_on_biases"])
