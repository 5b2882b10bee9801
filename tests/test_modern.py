"""08-modern: the solution against PyTorch, the oracle fixture, the NumPy-only watch, and the
checks on the solution, on a blank notebook and on seeded-bug variants."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder import engine
from autograder.checks import modern
from autograder.learner import InProcessLearner, NumPyOnlyViolation, initialization_skipped, numpy_only
from autograder.notebook import read_notebook
from autograder.registry import checks_for
from autograder.resnet import RESNET_PARAMETERS, resnet18, resnet34, resnet50

from conftest import (
    assert_every_check_passes,
    assert_every_check_says_not_implemented,
    assert_hint_in_chinese,
    assert_matches_torch,
    assert_one_edit_each,
    assert_oracle_fixture_is_fresh,
    assert_seeded_bug_caught,
    assert_test_cells_match_checks,
    run_checks,
    write_variant,
)

pytestmark = pytest.mark.modern

ASSIGNMENT = "08-modern"
EXAMPLES = settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
NUMPY_FUNCTIONS = ("batchnorm2d_forward", "batchnorm2d_backward", "depthwise_conv2d_forward", "conv2d", "conv2d_grads",
                   "residual_block_forward", "residual_block_backward", "separable_conv_cost")


def leaf(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


# ---------------------------------------------------------------------------------------------
# 1. The solution against torch, directly, on random shapes


@EXAMPLES
@given(n=st.integers(1, 4), c=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(2, 5), train=st.booleans(),
       momentum=st.sampled_from([0.1, 0.5, 1.0]), eps=st.sampled_from([1e-5, 1e-2, 0.5]), seed=st.integers(0, 2**32 - 1))
def test_batchnorm2d_forward_matches_f_batch_norm_in_both_modes(solution: dict[str, Any], n: int, c: int, h: int, w: int, train: bool,
                                                                 momentum: float, eps: float, seed: int) -> None:
    x, gamma, beta, mean, var, _ = modern.bn_inputs(seed, n, c, h, w)
    before = [a.copy() for a in (x, mean, var)]
    rm, rv = torch.tensor(mean), torch.tensor(var)
    expected = F.batch_norm(torch.tensor(x), rm, rv, torch.tensor(gamma), torch.tensor(beta), training=train, momentum=momentum, eps=eps)
    out, new_mean, new_var = solution["batchnorm2d_forward"](x, gamma, beta, mean, var, train, momentum=momentum, eps=eps)
    for got, want in ((out, expected), (new_mean, rm), (new_var, rv)):
        assert_matches_torch(got, want)
    for array, copy in zip((x, mean, var), before):
        np.testing.assert_array_equal(array, copy)


@EXAMPLES
@given(n=st.integers(1, 4), c=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(2, 4), eps=st.sampled_from([1e-5, 0.5]), seed=st.integers(0, 2**32 - 1))
def test_batchnorm2d_backward_matches_autograd(solution: dict[str, Any], n: int, c: int, h: int, w: int, eps: float, seed: int) -> None:
    x, gamma, beta, _, _, dout = modern.bn_inputs(seed, n, c, h, w)
    xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
    F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps).backward(torch.tensor(dout))
    for got, expected in zip(solution["batchnorm2d_backward"](dout, x, gamma, eps=eps), (xt.grad, gt.grad, bt.grad)):
        assert_matches_torch(got, expected, tolerance=1e-8)


@EXAMPLES
@given(n=st.integers(1, 3), c=st.integers(1, 4), k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       extra=st.tuples(st.integers(0, 4), st.integers(0, 4)), seed=st.integers(0, 2**32 - 1))
def test_depthwise_conv2d_forward_matches_grouped_conv2d(solution: dict[str, Any], n: int, c: int, k: int, stride: int, padding: int,
                                                         extra: tuple[int, int], seed: int) -> None:
    h, w = max(k - 2 * padding, 1) + extra[0], max(k - 2 * padding, 1) + extra[1]
    x, wk, b = modern.depthwise_inputs(seed, n, c, h, w, k)
    expected = F.conv2d(torch.tensor(x), torch.tensor(wk), torch.tensor(b), stride=stride, padding=padding, groups=c)
    assert_matches_torch(solution["depthwise_conv2d_forward"](x, wk, b, stride=stride, padding=padding), expected)


@EXAMPLES
@given(n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6), stride=st.integers(1, 2),
       projection=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_residual_block_forward_and_backward_match_autograd(solution: dict[str, Any], n: int, c: int, o: int, h: int, w: int, stride: int,
                                                            projection: bool, seed: int) -> None:
    projection = projection or stride != 1 or c != o
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    params = {"conv1.weight": rng.standard_normal((o, c, 3, 3)), "conv1.bias": rng.standard_normal(o),
              "conv2.weight": rng.standard_normal((o, o, 3, 3)), "conv2.bias": rng.standard_normal(o)}
    if projection:
        params.update({"shortcut.weight": rng.standard_normal((o, c, 1, 1)), "shortcut.bias": rng.standard_normal(o)})
    leaves = {key: leaf(value) for key, value in params.items()}
    xt = leaf(x)
    _, _, y = modern._torch_block(xt, leaves, stride)
    dout = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(dout))
    assert_matches_torch(solution["residual_block_forward"](x, params, stride=stride), y)
    dx, grads = solution["residual_block_backward"](dout, x, params, stride=stride)
    assert_matches_torch(dx, xt.grad)
    assert sorted(grads) == sorted(params)
    for key, value in leaves.items():
        assert_matches_torch(grads[key], value.grad)


def test_residual_block_backward_takes_the_oracle_torch_block_apart_as_torch_does() -> None:
    """The check's torch block is a residual block: zero convolutions leave relu(x)."""
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    zeros = {"conv1.weight": torch.zeros(2, 2, 3, 3, dtype=torch.float64), "conv1.bias": torch.zeros(2, dtype=torch.float64),
             "conv2.weight": torch.zeros(2, 2, 3, 3, dtype=torch.float64), "conv2.bias": torch.zeros(2, dtype=torch.float64)}
    torch.testing.assert_close(modern._torch_block(x, zeros, 1)[2], F.relu(x))


def test_separable_conv_cost_of_a_mobilenet_layer(solution: dict[str, Any]) -> None:
    cost = solution["separable_conv_cost"](32, 64, 3, 112, 112)
    assert cost == {"params_standard": 18_496, "params_separable": 2_432, "macs_standard": 231_211_008, "macs_separable": 29_302_784}


def test_build_resnet18_has_torchvisions_keys_and_computes_what_the_reference_computes(solution: dict[str, Any]) -> None:
    from autograder.learner import fill_seeded_state

    with initialization_skipped():  # fill_seeded_state overwrites every entry
        model, reference = solution["build_resnet18"](num_classes=7), resnet18(num_classes=7)
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [(k, v.shape) for k, v in reference.state_dict().items()]
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fill_seeded_state(model.double().eval(), 3)(x), fill_seeded_state(reference.double().eval(), 3)(x))


def test_reference_resnets_have_torchvisions_parameter_counts() -> None:
    with torch.device("meta"):
        for name, build in (("resnet18", resnet18), ("resnet34", resnet34), ("resnet50", resnet50)):
            assert sum(p.numel() for p in build().parameters()) == RESNET_PARAMETERS[name], name


# ---------------------------------------------------------------------------------------------
# 2. Oracle fixture, the notebook, and the NumPy-only watch


def test_oracle_fixture_equals_a_fresh_torch_build() -> None:
    assert_oracle_fixture_is_fresh(ASSIGNMENT)


def test_torch_is_imported_only_in_the_pytorch_part_of_the_notebook() -> None:
    notebook = read_notebook(modern_solution_path())
    assert notebook.metadata["cnn_course"]["assignment"] == ASSIGNMENT
    code = notebook.learner_code()
    first_torch = next(i for i, cell in enumerate(code) if "import torch" in cell.source)
    before = "\n".join(cell.source for cell in code[:first_torch])
    assert not re.search(r"\b(torch|scipy)\b", before)
    assert all(f"def {name}(" in before for name in NUMPY_FUNCTIONS)


def modern_solution_path() -> Path:
    from autograder.assignments import get_assignment

    return get_assignment(ASSIGNMENT).solution_path


def test_the_numpy_only_watch_names_the_first_torch_or_scipy_call_and_allows_numpy() -> None:
    import scipy.ndimage

    with numpy_only():
        np.einsum("ij,jk->ik", np.ones((2, 2)), np.ones((2, 2)))
    for forbidden, name in ((lambda: torch.from_numpy(np.ones(2)), "torch"), (lambda: torch.ones(2).sum(), "torch"),
                            (lambda: scipy.ndimage.convolve(np.ones((3, 3)), np.ones((2, 2))), "scipy.ndimage")):
        with pytest.raises(NumPyOnlyViolation, match=rf"called {name}\S*"):
            with numpy_only():
                forbidden()


def test_call_numpy_only_fails_a_function_that_uses_torch_in_process() -> None:
    def cheat(x: np.ndarray) -> np.ndarray:
        return torch.relu(torch.from_numpy(x)).numpy()

    learner = InProcessLearner({"relu": cheat, "fine": lambda x: np.maximum(x, 0)})
    np.testing.assert_array_equal(learner.call_numpy_only("fine", np.array([-1.0, 2.0])), [0.0, 2.0])
    with pytest.raises(NumPyOnlyViolation, match=r"^relu: it called torch\.\w+, but this is the assignment's NumPy part"):
        learner.call_numpy_only("relu", np.array([-1.0, 2.0]))


def test_the_sandbox_fails_only_the_check_of_a_numpy_function_that_uses_torch(tmp_path: Path) -> None:
    variant = write_variant(ASSIGNMENT, {TORCH_DEPTHWISE[0]: TORCH_DEPTHWISE[1]}, tmp_path)
    result = engine.grade_notebook(variant, only="08.[ds]e*")
    by_id = {c.id: c for c in result.checks}
    assert set(by_id) == {"08.depthwise_conv2d_forward.values", "08.separable_conv_cost.values"}
    depthwise = by_id["08.depthwise_conv2d_forward.values"]
    assert depthwise.status == "failed" and "depthwise_conv2d_forward: it called torch.from_numpy" in depthwise.message, depthwise.message
    assert by_id["08.separable_conv_cost.values"].passed


# ---------------------------------------------------------------------------------------------
# 3. Checks on the solution and on a blank notebook


def test_every_check_passes_on_the_solution(solution_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_passes(solution_learner(ASSIGNMENT), ASSIGNMENT)


def test_every_check_fails_on_the_blank_notebook_saying_not_implemented(blank_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_says_not_implemented(blank_learner(ASSIGNMENT), ASSIGNMENT)


def test_points_total_24_and_the_notebook_has_one_locked_test_cell_per_check() -> None:
    assert sum(c.points for c in checks_for(ASSIGNMENT)) == 24
    assert_test_cells_match_checks(ASSIGNMENT)


@pytest.mark.parametrize(("axes", "hint"), [((2, 3), modern.INSTANCE_HINT), ((0,), modern.AXIS0_HINT)])
def test_batch_norm_over_the_wrong_axes_gets_its_hint(solution: dict[str, Any], axes: tuple[int, ...], hint: str) -> None:
    def wrong_axes(x, gamma, beta, running_mean, running_var, train, momentum=0.1, eps=1e-5):
        _, new_mean, new_var = solution["batchnorm2d_forward"](x, gamma, beta, running_mean, running_var, train, momentum, eps)
        x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
        return gamma[:, None, None] * x_hat + beta[:, None, None], new_mean, new_var

    message = run_checks(InProcessLearner({"batchnorm2d_forward": wrong_axes}), ASSIGNMENT, [BN_TRAIN])[BN_TRAIN]
    assert message and f"Hint: {hint}" in message, message


# ---------------------------------------------------------------------------------------------
# 4. Seeded bugs fail the right checks with the right hint

BN_TRAIN, BN_EVAL, BN_MODULE = "08.batchnorm2d_forward.train", "08.batchnorm2d_forward.eval", "08.batchnorm2d_forward.module"
BLOCK_FORWARD = {"08.residual_block_forward.identity", "08.residual_block_forward.projection"}
BLOCK_BACKWARD = {"08.residual_block_backward.identity", "08.residual_block_backward.projection"}
RESNET = {"08.build_resnet18.structure", "08.build_resnet18.forward"}
TORCH_DEPTHWISE = ("[:, None, None]\n    return out\n", "[:, None, None]\n    return torch.from_numpy(out).numpy()\n")

# name -> (replacements, failing checks, {check: hint})
VARIANTS: dict[str, tuple[Mapping[str, str], set[str], Mapping[str, str]]] = {
    "biased running variance": (
        {"momentum * var * m / (m - 1)": "momentum * var"}, {BN_TRAIN, BN_MODULE}, {BN_TRAIN: "unbiased batch variance"}),
    "batch statistics in eval mode": (
        {"mean, var = running_mean, running_var": "mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))"},
        {BN_EVAL, BN_MODULE}, {BN_EVAL: "in eval mode (train=False) batch norm uses the running mean and variance"}),
    "momentum the other way round": (
        {"new_mean = (1 - momentum) * running_mean + momentum * mean": "new_mean = momentum * running_mean + (1 - momentum) * mean"},
        {BN_TRAIN, BN_MODULE}, {BN_TRAIN: "PyTorch's momentum weighs the new batch"}),
    "eps outside the square root": (
        {"np.sqrt(var[:, None, None] + eps)": "(np.sqrt(var[:, None, None]) + eps)"},
        {BN_TRAIN, BN_EVAL, BN_MODULE}, {BN_TRAIN: "eps goes inside the square root"}),
    "backward normalising over the wrong axes": (
        {"axes = (0, 2, 3)\n": "axes = (2, 3)\n"}, {"08.batchnorm2d_backward.gradients"}, {"08.batchnorm2d_backward.gradients": "sum over the batch and all positions"}),
    "backward treating the batch statistics as constants": (
        {"dx = inv_std * (dx_hat - dx_hat.mean(axis=axes, keepdims=True) - x_hat * (dx_hat * x_hat).mean(axis=axes, keepdims=True))": "dx = inv_std * dx_hat"},
        {"08.batchnorm2d_backward.gradients"}, {"08.batchnorm2d_backward.gradients": "the batch mean and variance depend on every x too"}),
    "depthwise kernel flipped": (
        {"* w[:, 0, i, j][:, None, None]": "* w[:, 0, kh - 1 - i, kw - 1 - j][:, None, None]"},
        {"08.depthwise_conv2d_forward.values"}, {"08.depthwise_conv2d_forward.values": "without flipping it"}),
    "depthwise using torch": (
        dict([TORCH_DEPTHWISE]), {"08.depthwise_conv2d_forward.values"}, {"08.depthwise_conv2d_forward.values": "it called torch.from_numpy"}),
    "shortcut added after the ReLU": (
        {"return np.maximum(body + shortcut, 0)": "return np.maximum(body, 0) + shortcut"}, BLOCK_FORWARD,
        dict.fromkeys(BLOCK_FORWARD, "add the shortcut before the last ReLU")),
    "shortcut forgotten": (
        {"return np.maximum(body + shortcut, 0)": "return np.maximum(body, 0)"}, BLOCK_FORWARD, dict.fromkeys(BLOCK_FORWARD, "the shortcut is missing")),
    "shortcut's gradient forgotten": (
        {"return dx + dx_shortcut, grads": "return dx, grads"}, BLOCK_BACKWARD, dict.fromkeys(BLOCK_BACKWARD, "dx has two paths")),
    "final ReLU's mask forgotten in backward": (
        {"dz = dout * (body + shortcut > 0)": "dz = dout"}, BLOCK_BACKWARD, dict.fromkeys(BLOCK_BACKWARD, "the final ReLU gates the gradient")),
    "separable cost without biases": (
        {"depthwise + c_in + pointwise + c_out": "depthwise + pointwise"}, {"08.separable_conv_cost.values"}, {"08.separable_conv_cost.values": "count the biases too"}),
    "separable cost without the pointwise multiply-adds": (
        {"h * w * (depthwise + pointwise)": "h * w * depthwise"}, {"08.separable_conv_cost.values"}, {"08.separable_conv_cost.values": "add the pointwise convolution's"}),
    "resnet without projection shortcuts": (
        {"if changes_shape else None": "if False else None"}, RESNET, {"08.build_resnet18.structure": "its shortcut is `downsample`"}),
    "resnet stem convolution with a bias": (
        {"nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)": "nn.Conv2d(3, 64, 7, stride=2, padding=3)"}, RESNET,
        {"08.build_resnet18.structure": "have no bias (bias=False)"}),
    "resnet shortcut added after the ReLU": (
        {"return self.relu(self.bn2(self.conv2(out)) + shortcut)": "return self.relu(self.bn2(self.conv2(out))) + shortcut"},
        {"08.build_resnet18.forward"}, {"08.build_resnet18.forward": "add the shortcut before the last ReLU"}),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_seeded_bug_fails_exactly_the_right_checks_with_its_hint(variant_learner: Callable[..., InProcessLearner], name: str) -> None:
    replacements, failing, hints = VARIANTS[name]
    assert_one_edit_each(ASSIGNMENT, replacements)
    # Only the checks of the functions the bug is in (and their siblings): the others cannot see it.
    functions = {check_id.split(".")[1] for check_id in failing}
    results = run_checks(variant_learner(ASSIGNMENT, replacements), ASSIGNMENT, [c.id for c in checks_for(ASSIGNMENT) if c.id.split(".")[1] in functions])
    assert_seeded_bug_caught(results, failing, hints)


def test_a_seeded_bug_graded_in_chinese_gets_the_chinese_hint_and_not_the_english(variant_learner: Callable[..., InProcessLearner], in_chinese: None) -> None:
    results = run_checks(variant_learner(ASSIGNMENT, VARIANTS["eps outside the square root"][0]), ASSIGNMENT, [BN_TRAIN])
    assert_hint_in_chinese(results[BN_TRAIN], modern.EPS_HINT)
