"""04-backprop: the solution against PyTorch, the oracle fixture, and the checks on the
solution, on a blank notebook and on seeded-bug variants."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.checks import backprop
from autograder.checks.padding_stride import as_pair
from autograder.learner import PROBE_FUNCTIONS, InProcessLearner
from autograder.registry import checks_for

from conftest import (
    assert_every_check_passes,
    assert_every_check_says_not_implemented,
    assert_one_edit_each,
    assert_grading_imports_no_torch,
    assert_hint_in_chinese,
    assert_matches_torch,
    assert_notebook_is_numpy_only,
    assert_oracle_fixture_is_fresh,
    assert_seeded_bug_caught,
    assert_test_cells_match_checks,
    run_checks,
)

pytestmark = pytest.mark.backprop

ASSIGNMENT = "04-backprop"
TOLERANCE = 1e-10
EXAMPLES = settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def leaf(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def pairs(low: int, high: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(low, high), st.integers(low, high))


# ---------------------------------------------------------------------------------------------
# 1. The solution against torch, directly, on random shapes


@EXAMPLES
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_relu_forward_and_backward_match_torch_including_exact_zeros(solution: dict[str, Any], shape: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x.reshape(-1)[::3] = 0.0
    dout = rng.standard_normal(shape)
    xt = leaf(x)
    out = F.relu(xt)
    out.backward(torch.tensor(dout))
    assert_matches_torch(solution["relu_forward"](x), out)
    assert_matches_torch(solution["relu_backward"](dout, x), xt.grad)


@EXAMPLES
@given(n=st.integers(1, 5), n_in=st.integers(1, 6), n_out=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_linear_forward_and_backward_match_torch(solution: dict[str, Any], n: int, n_in: int, n_out: int, seed: int) -> None:
    x, w, b, dout = backprop.linear_inputs(seed, n, n_in, n_out)
    xt, wt, bt = leaf(x), leaf(w), leaf(b)
    out = F.linear(xt, wt, bt)
    out.backward(torch.tensor(dout))
    assert_matches_torch(solution["linear_forward"](x, w, b), out)
    for got, expected in zip(solution["linear_backward"](dout, x, w), (xt.grad, wt.grad, bt.grad)):
        assert_matches_torch(got, expected)


@EXAMPLES
@given(n=st.integers(1, 6), classes=st.integers(2, 7), scale=st.sampled_from([0.1, 1.0, 30.0, 1e4, 1e6]), seed=st.integers(0, 2**32 - 1))
def test_softmax_cross_entropy_matches_torch_even_for_huge_logits(solution: dict[str, Any], n: int, classes: int, scale: float, seed: int) -> None:
    logits, y = backprop.softmax_inputs(seed, n, classes, scale)
    lt = leaf(logits)
    loss = F.cross_entropy(lt, torch.tensor(y))
    loss.backward()
    got_loss, got_grad = solution["softmax_cross_entropy"](logits, y)
    assert_matches_torch(np.asarray(got_loss), loss)
    assert_matches_torch(got_grad, lt.grad)


@st.composite
def pool_cases(draw: st.DrawFn) -> tuple[Any, ...]:
    kh, kw = draw(pairs(1, 4))
    stride = draw(st.one_of(st.none(), pairs(1, 3)))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h, w = draw(st.integers(max(kh - 2 * ph, 1), 9)), draw(st.integers(max(kw - 2 * pw, 1), 9))
    n, c = draw(st.sampled_from([1, 4])), draw(st.sampled_from([1, 3]))
    return draw(st.integers(0, 2**32 - 1)), n, c, h, w, (kh, kw), stride, (ph, pw)


@EXAMPLES
@given(case=pool_cases())
def test_maxpool2d_backward_matches_torch_on_distinct_values(solution: dict[str, Any], case: tuple[Any, ...]) -> None:
    x, dout = backprop.pool_inputs(*case)
    kernel_size, stride, padding = case[5:]
    xt = leaf(x)
    F.max_pool2d(xt, kernel_size, stride if stride is not None else kernel_size, padding).backward(torch.tensor(dout))
    assert_matches_torch(solution["maxpool2d_backward"](dout, x, kernel_size, stride, padding), xt.grad)


@EXAMPLES
@given(case=pool_cases())
def test_avgpool2d_backward_matches_torch_counting_padding(solution: dict[str, Any], case: tuple[Any, ...]) -> None:
    x, dout = backprop.pool_inputs(*case)
    kernel_size, stride, padding = case[5:]
    xt = leaf(x)
    F.avg_pool2d(xt, kernel_size, stride if stride is not None else kernel_size, padding, count_include_pad=True).backward(torch.tensor(dout))
    assert_matches_torch(solution["avgpool2d_backward"](dout, x.shape, kernel_size, stride, padding), xt.grad)


@EXAMPLES
@given(
    n=st.sampled_from([1, 4]), c=st.sampled_from([1, 3]), o=st.integers(1, 3), kernel=pairs(1, 4),
    stride=st.one_of(st.integers(1, 3), pairs(1, 3)), padding=st.one_of(st.integers(0, 2), pairs(0, 2)),
    extra=pairs(0, 4), seed=st.integers(0, 2**32 - 1),
)
def test_conv2d_backward_matches_torch_autograd(solution: dict[str, Any], n: int, c: int, o: int, kernel: tuple[int, int], stride: Any,
                                                padding: Any, extra: tuple[int, int], seed: int) -> None:
    (kh, kw), (ph, pw) = kernel, as_pair(padding)
    h, w = max(kh - 2 * ph, 1) + extra[0], max(kw - 2 * pw, 1) + extra[1]
    x, wt_np, b, dout = backprop.conv_inputs(seed, n, c, h, w, o, kh, kw, stride, padding)
    xt, wt, bt = leaf(x), leaf(wt_np), leaf(b)
    F.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(torch.tensor(dout))
    for got, expected in zip(solution["conv2d_backward"](dout, x, wt_np, b, stride, padding), (xt.grad, wt.grad, bt.grad)):
        assert_matches_torch(got, expected)


def test_conv2d_backward_accepts_float32(solution: dict[str, Any]) -> None:
    x, w, b, dout = backprop.conv_inputs(5, 2, 3, 7, 6, 2, 3, 2, 2, 1)
    expected = solution["conv2d_backward"](dout, x, w, b, 2, 1)
    got = solution["conv2d_backward"](*(a.astype(np.float32) for a in (dout, x, w, b)), 2, 1)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4)


@EXAMPLES
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), probe=st.sampled_from(sorted(PROBE_FUNCTIONS)), seed=st.integers(0, 2**32 - 1))
def test_numeric_gradient_matches_autograd_and_leaves_x_alone(solution: dict[str, Any], shape: list[int], probe: str, seed: int) -> None:
    x = backprop.numeric_gradient_input(seed, tuple(shape))
    before = x.copy()
    xt = leaf(x)
    backprop._torch_probe(probe, xt).backward()
    got = solution["numeric_gradient"](PROBE_FUNCTIONS[probe], x)
    np.testing.assert_array_equal(x, before)
    scale = max(1.0, float(xt.grad.abs().max()))
    assert np.max(np.abs(got - xt.grad.numpy())) <= 1e-7 * scale


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
def test_dropout_forward_is_inverted_dropout_and_reproducible(solution: dict[str, Any], p: float) -> None:
    x = np.random.default_rng(1).standard_normal((300, 400))
    out, mask = solution["dropout_forward"](x, p, True, np.random.default_rng(7))
    again, _ = solution["dropout_forward"](x, p, True, np.random.default_rng(7))
    assert set(np.unique(mask)) <= {0.0, 1 / (1 - p)}
    assert abs(np.mean(mask == 0) - p) < 0.01
    np.testing.assert_array_equal(out, x * mask)
    np.testing.assert_array_equal(again, out)
    np.testing.assert_array_equal(solution["dropout_backward"](np.ones_like(x), mask), mask)
    out, mask = solution["dropout_forward"](x, p, False, np.random.default_rng(7))
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(mask, np.ones_like(x))


# ---------------------------------------------------------------------------------------------
# 2. Oracle fixture


def test_oracle_fixture_equals_a_fresh_torch_build() -> None:
    assert_oracle_fixture_is_fresh(ASSIGNMENT)


def test_grading_04_does_not_import_torch() -> None:
    assert_grading_imports_no_torch(ASSIGNMENT)


def test_notebook_imports_only_numpy() -> None:
    assert_notebook_is_numpy_only(ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 3. Checks on the solution and on a blank notebook


def test_every_check_passes_on_the_solution(solution_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_passes(solution_learner(ASSIGNMENT), ASSIGNMENT)


def test_every_check_fails_on_the_blank_notebook_saying_not_implemented(blank_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_says_not_implemented(blank_learner(ASSIGNMENT), ASSIGNMENT)


def test_points_total_26_and_the_notebook_has_one_locked_test_cell_per_check() -> None:
    assert sum(c.points for c in checks_for(ASSIGNMENT)) == 26
    assert_test_cells_match_checks(ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 4. Seeded bugs fail the right check with the right hint

VARIANTS: dict[str, tuple[Mapping[str, str], set[str], str]] = {
    "maxpool gradient to every window element": (
        {"+= dout * is_max[..., i * kw + j]": "+= dout"},
        {"04.maxpool2d_backward.gradients"}, "not to every element"),
    "avgpool not divided by the window size": (
        {"share = dout / (kh * kw)": "share = dout"},
        {"04.avgpool2d_backward.gradients"}, "divide each window's gradient by the window size"),
    "avgpool padding cropped from one side only": (
        {"return dx_padded[:, :, ph:ph + h, pw:pw + w]": "return dx_padded[:, :, :h, :w]"},
        {"04.avgpool2d_backward.gradients"}, "remove the padding from both sides"),
    "conv dx without rotating the kernel": (
        {"w_rot = w[:, :, ::-1, ::-1]": "w_rot = w"},
        {"04.conv2d_backward.stride1", "04.conv2d_backward.stride_padding"}, "rotated by 180°"),
    "conv dw transposed": (
        {'"ncijhw,nohw->ocij"': '"ncijhw,nohw->coij"'},
        {"04.conv2d_backward.stride1", "04.conv2d_backward.stride_padding"}, "dw is transposed"),
    "conv db not summed over the batch": (
        {"db = dout.sum(axis=(0, 2, 3))": "db = dout.sum(axis=(2, 3))"},
        {"04.conv2d_backward.stride1", "04.conv2d_backward.stride_padding"}, "summed over the batch"),
    "softmax without subtracting the maximum": (
        {"shifted = logits - logits.max(axis=1, keepdims=True)": "shifted = logits"},
        {"04.softmax_cross_entropy.huge_logits"}, "subtract each row's maximum"),
    "softmax gradient not divided by N": (
        {"return float(loss), dlogits / n": "return float(loss), dlogits"},
        {"04.softmax_cross_entropy.values", "04.softmax_cross_entropy.huge_logits"}, "(softmax - one_hot) / N"),
    "relu gradient 1 at 0": (
        {"return dout * (x > 0)": "return dout * (x >= 0)"},
        {"04.relu_backward.zero_input"}, "exactly x = 0"),
    "linear dw transposed": (
        {"dw = dout.T @ x": "dw = x.T @ dout"},
        {"04.linear_backward.gradients"}, "dw is transposed"),
    "linear dx transposed": (
        {"dx = dout @ w\n": "dx = (dout @ w).T\n"},
        {"04.linear_backward.gradients"}, "dx has the shape of x"),
    "dropout not rescaled": (
        {"mask = keep / (1 - p)": "mask = keep * 1.0"},
        {"04.dropout_forward.train"}, "1 / (1 - p)"),
    "dropout from the global numpy generator": (
        {"keep = rng.random(x.shape) >= p": "keep = np.random.random(x.shape) >= p"},
        {"04.dropout_forward.train"}, "from the rng argument"),
    "one-sided numeric gradient": (
        {"x[index] = original - h\n": "x[index] = original\n", "/ (2 * h)": "/ h"},
        {"04.numeric_gradient.probe"}, "central differences"),
    "numeric gradient that never restores x": (
        {"x[index] = original\n": "pass  # x[index] stays nudged\n"},
        {"04.numeric_gradient.probe"}, "put each entry back"),
}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_seeded_bug_fails_exactly_the_right_checks_with_its_hint(variant_learner: Callable[..., InProcessLearner], name: str) -> None:
    replacements, failing, hint = VARIANTS[name]
    assert_one_edit_each(ASSIGNMENT, replacements)
    results = run_checks(variant_learner(ASSIGNMENT, replacements), ASSIGNMENT)
    assert_seeded_bug_caught(results, failing, dict.fromkeys(failing, hint))


def test_a_seeded_bug_graded_in_chinese_gets_the_chinese_hint_and_not_the_english(variant_learner: Callable[..., InProcessLearner], in_chinese: None) -> None:
    results = run_checks(variant_learner(ASSIGNMENT, VARIANTS["relu gradient 1 at 0"][0]), ASSIGNMENT, ["04.relu_backward.zero_input"])
    assert_hint_in_chinese(results["04.relu_backward.zero_input"], backprop.RELU_AT_ZERO_HINT)
