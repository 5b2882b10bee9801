"""05-architectures: the solution against PyTorch, the oracle fixture, the checks on the
solution, on a blank notebook and on seeded-bug variants, and grading with broken 02 layers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.assignments import get_assignment
from autograder.checks import architectures
from autograder.learner import InProcessLearner
from autograder.oracles import load_oracles
from autograder.reference import load
from autograder.registry import checks_for

from conftest import (
    assert_every_check_passes,
    assert_every_check_says_not_implemented,
    assert_hint_in_chinese,
    assert_one_edit_each,
    assert_oracle_fixture_is_fresh,
    assert_seeded_bug_caught,
    assert_test_cells_match_checks,
    learner_from_notebook,
    run_checks,
)
from hostile import solution_with

pytestmark = pytest.mark.architectures

ASSIGNMENT = "05-architectures"
LENET_CHECKS = {"05.lenet5_forward.logits", "05.lenet5_forward.accuracy"}
CHEAP_CHECKS = [c.id for c in checks_for(ASSIGNMENT) if c.id not in LENET_CHECKS | {"05.build_alexnet.structure"}]


def failures(learner: InProcessLearner, check_ids: list[str]) -> dict[str, str]:
    """Check id -> failure message, for the checks among ``check_ids`` that fail."""
    return {check_id: message for check_id, message in run_checks(learner, ASSIGNMENT, check_ids).items() if message}


# ---------------------------------------------------------------------------------------------
# 1. The solution against PyTorch, directly


def test_lenet5_forward_with_the_course_layers_matches_the_reference_model_in_float64(solution: dict[str, Any]) -> None:
    x, _ = architectures.mnist_inputs(64)
    with torch.no_grad():
        expected = load("lenet5").double()(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(solution["lenet5_forward"](architectures.lenet5_params(), x) - expected)) <= 1e-10


@settings(max_examples=25, deadline=None, derandomize=True)
@given(c_in=st.integers(1, 64), c_out=st.integers(1, 64), kernel=st.one_of(st.integers(1, 7), st.tuples(st.integers(1, 7), st.integers(1, 7))), bias=st.booleans(),
       n_in=st.integers(1, 500), n_out=st.integers(1, 500))
def test_parameter_counts_match_torch_modules(solution: dict[str, Any], c_in: int, c_out: int, kernel: Any, bias: bool, n_in: int, n_out: int) -> None:
    with torch.device("meta"):
        conv = torch.nn.Conv2d(c_in, c_out, kernel, bias=bias)
        linear = torch.nn.Linear(n_in, n_out, bias=bias)
    assert solution["count_conv_params"](c_in, c_out, kernel, bias=bias) == sum(p.numel() for p in conv.parameters())
    assert solution["count_linear_params"](n_in, n_out, bias=bias) == sum(p.numel() for p in linear.parameters())


def test_network_parameter_counts_are_torchvisions_published_numbers(solution: dict[str, Any]) -> None:
    assert solution["alexnet_param_count"]() == 61_100_840
    assert solution["vgg16_param_count"]() == 138_357_544


@settings(max_examples=25, deadline=None, derandomize=True)
@given(layers=st.lists(st.tuples(st.integers(1, 7), st.integers(1, 3)), max_size=6))
def test_receptive_field_matches_autograd_on_conv1d_stacks(solution: dict[str, Any], layers: list[tuple[int, int]]) -> None:
    assert solution["receptive_field"](layers) == architectures._measured_receptive_field(layers)


@pytest.mark.parametrize("num_convs, c_in, c_out, size", [(1, 1, 4, 9), (2, 3, 8, 16), (3, 5, 2, 7)])
def test_vgg_block_equals_the_reference_block_layer_by_layer(solution: dict[str, Any], num_convs: int, c_in: int, c_out: int, size: int) -> None:
    block = solution["vgg_block"](num_convs, c_in, c_out)
    reference = architectures.reference_vgg_block(num_convs, c_in, c_out)
    reference.load_state_dict(block.state_dict())
    x = torch.randn(2, c_in, size, size)
    torch.testing.assert_close(block(x), reference(x))


def test_build_alexnet_loads_the_reference_weights_and_computes_the_same_function(solution: dict[str, Any]) -> None:
    with torch.device("meta"):  # allocated below without the slow initialization
        model, reference = solution["build_alexnet"](num_classes=10), architectures.reference_alexnet(10)
    model, reference = model.to_empty(device="cpu").eval(), reference.to_empty(device="cpu").eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.uniform_(-0.02, 0.02, generator=generator)
    reference.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 224, 224, generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


# ---------------------------------------------------------------------------------------------
# 2. Oracle fixture


def test_oracle_fixture_equals_a_fresh_torch_build() -> None:
    assert_oracle_fixture_is_fresh(ASSIGNMENT)


def test_reference_predictions_reach_the_manifest_accuracy_ballpark() -> None:
    _, labels = architectures.mnist_inputs(architectures.ACCURACY_IMAGES)
    assert np.mean(load_oracles(ASSIGNMENT)["lenet5.predictions"] == labels) >= 0.98


# ---------------------------------------------------------------------------------------------
# 3. Checks on the solution and on a blank notebook


def test_every_check_passes_on_the_solution_and_the_own_layers_report_is_clean(solution_learner: Callable[[str], InProcessLearner]) -> None:
    learner = solution_learner(ASSIGNMENT)
    assert_every_check_passes(learner, ASSIGNMENT)
    assert "✓ with your own conv2d_forward" in architectures.own_layers_report(learner)


def test_every_check_fails_on_the_blank_notebook_saying_not_implemented(blank_learner: Callable[[str], InProcessLearner]) -> None:
    learner = blank_learner(ASSIGNMENT)
    assert_every_check_says_not_implemented(learner, ASSIGNMENT)
    assert "lenet5_forward cannot run yet: lenet5_forward is not implemented yet" in architectures.own_layers_report(learner)


def test_points_total_20_and_the_notebook_has_one_locked_test_cell_per_check() -> None:
    assert sum(c.points for c in checks_for(ASSIGNMENT)) == 20
    assert_test_cells_match_checks(ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 4. Seeded bugs fail the right check with the right hint

VARIANTS: dict[str, tuple[Mapping[str, str], list[str], set[str], str]] = {
    # name: (replacements, checks to run, checks that must fail, hint in each failure)
    "count_conv_params forgets the bias": (
        {"biases = c_out if bias else 0": "biases = 0"},
        CHEAP_CHECKS, {"05.count_conv_params.values", "05.alexnet_param_count.total", "05.vgg16_param_count.total"}, "bias"),
    "LeNet missing the ReLU after fc2": (
        {'h = relu_forward(linear_forward(h, params["fc2.weight"], params["fc2.bias"]))': 'h = linear_forward(h, params["fc2.weight"], params["fc2.bias"])'},
        ["05.lenet5_forward.logits"], {"05.lenet5_forward.logits"}, "a ReLU is missing after fc2"),
    "LeNet missing the ReLU after conv1": (
        {'h = relu_forward(conv2d_forward(x, params["conv1.weight"], params["conv1.bias"], padding=2))':
         'h = conv2d_forward(x, params["conv1.weight"], params["conv1.bias"], padding=2)'},
        ["05.lenet5_forward.logits"], {"05.lenet5_forward.logits"}, "a ReLU is missing after conv1"),
    "LeNet flattened channels last": (
        {"h = h.reshape(len(h), -1)": "h = h.transpose(0, 2, 3, 1).reshape(len(h), -1)"},
        ["05.lenet5_forward.logits", "05.lenet5_forward.accuracy"], {"05.lenet5_forward.logits", "05.lenet5_forward.accuracy"}, "(C, H, W) order"),
    "receptive field without the jump": (
        {"jump *= stride": "pass  # the jump never grows"},
        CHEAP_CHECKS, {"05.receptive_field.values"}, "product of the strides"),
    "vgg block without pooling": (
        {"layers.append(nn.MaxPool2d(kernel_size=2, stride=2))\n": ""},
        CHEAP_CHECKS, {"05.vgg_block.structure"}, "halves height and width"),
    "alexnet ignoring num_classes": (
        {"nn.Linear(4096, num_classes)": "nn.Linear(4096, 1000)"},
        ["05.build_alexnet.structure"], {"05.build_alexnet.structure"}, "num_classes outputs"),
    "alexnet without its last ReLU": (
        {"nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),": "nn.Dropout(0.5), nn.Linear(4096, 4096),"},
        ["05.build_alexnet.structure"], {"05.build_alexnet.structure"}, "expected ReLU()"),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_seeded_bug_fails_exactly_the_right_checks_with_its_hint(variant_learner: Callable[..., InProcessLearner], name: str) -> None:
    replacements, to_run, failing, hint = VARIANTS[name]
    assert_one_edit_each(ASSIGNMENT, replacements)
    results = run_checks(variant_learner(ASSIGNMENT, replacements), ASSIGNMENT, to_run)
    assert_seeded_bug_caught(results, failing, dict.fromkeys(failing, hint))


# ---------------------------------------------------------------------------------------------
# 5. Broken layers in 02 cost no points in 05; the report names them

BROKEN_CONV = '''
# Seeded bug: a convolution (kernel flipped) instead of a cross-correlation.
_correct_conv2d_forward = conv2d_forward
def conv2d_forward(x, w, b, stride=1, padding=0):
    return _correct_conv2d_forward(x, w[:, :, ::-1, ::-1], b, stride, padding)
'''


def learner_beside(tmp_path: Path, notebooks: Mapping[str, str | None]) -> InProcessLearner:
    """A 05 learner whose sibling assignment folders are ``notebooks``: assignment id -> extra
    code appended to a copy of its solution, or None to leave the folder out."""
    for assignment_id, extra in notebooks.items():
        assignment = get_assignment(assignment_id)
        if extra is None:
            continue
        solution_with(tmp_path, extra_cells=[extra] if extra else [], assignment=assignment.id)
    return learner_from_notebook(tmp_path / get_assignment(ASSIGNMENT).id / get_assignment(ASSIGNMENT).notebook)


def test_broken_02_convolution_still_earns_the_05_points_and_the_report_names_it(tmp_path: Path) -> None:
    learner = learner_beside(tmp_path, {"02": BROKEN_CONV, "03": "", "04": "", "05": ""})
    assert failures(learner, ["05.lenet5_forward.logits"]) == {}
    report = architectures.own_layers_report(learner)
    assert "✗ with all your own layers" in report
    assert "✗ your conv2d_forward (from 02-padding-stride)" in report
    assert "✓ your maxpool2d_forward (from 03-pooling) matches" in report
    assert "✓ your relu_forward (from 04-backprop) matches" in report


def test_missing_02_notebook_still_earns_the_05_points_and_the_report_says_why(tmp_path: Path) -> None:
    learner = learner_beside(tmp_path, {"02": None, "03": "", "04": "", "05": ""})
    assert not learner.has("conv2d_forward")
    assert failures(learner, ["05.lenet5_forward.logits"]) == {}
    assert not learner.has("conv2d_forward"), "the swapped-in solution must be removed again"
    report = architectures.own_layers_report(learner)
    assert "✗ your conv2d_forward (from 02-padding-stride) is not defined here" in report
    assert "✓ your maxpool2d_forward (from 03-pooling) matches" in report


def test_report_blames_lenet5_forward_itself_when_it_is_wrong_with_the_course_layers(variant_learner: Callable[..., InProcessLearner]) -> None:
    learner = variant_learner(ASSIGNMENT, VARIANTS["LeNet missing the ReLU after fc2"][0])
    assert "does not match the reference even with the course's layers" in architectures.own_layers_report(learner)



def test_a_seeded_bug_graded_in_chinese_gets_the_chinese_hint_and_not_the_english(variant_learner: Callable[..., InProcessLearner], in_chinese: None) -> None:
    learner = variant_learner(ASSIGNMENT, VARIANTS["count_conv_params forgets the bias"][0])
    message = failures(learner, ["05.count_conv_params.values"]).get("05.count_conv_params.values")
    assert_hint_in_chinese(message, "add the biases: one per output channel (c_out of them).")
