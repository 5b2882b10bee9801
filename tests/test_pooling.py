"""03-pooling: the solution against PyTorch, the oracle fixture, and the checks on the
solution, on a blank notebook and on seeded-bug variants."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.checks.padding_stride import as_pair
from autograder.learner import InProcessLearner
from autograder.registry import checks_for

from conftest import (
    assert_every_check_passes,
    assert_every_check_says_not_implemented,
    assert_grading_imports_no_torch,
    assert_matches_torch,
    assert_notebook_is_numpy_only,
    assert_oracle_fixture_is_fresh,
    assert_seeded_bug_caught,
    assert_test_cells_match_checks,
    pair_or_int,
    run_checks,
)

pytestmark = pytest.mark.pooling

ASSIGNMENT = "03-pooling"
EXAMPLES = settings(max_examples=15, deadline=None, derandomize=True)


@st.composite
def pool_case(draw: st.DrawFn, padded: bool = True) -> dict[str, Any]:
    """Batch 1 or 4, 1 or 3 channels, odd sizes, non-square windows, default stride or strides
    up to 3, padding pairs with ph != pw (at most half the window, as PyTorch requires)."""
    n, c = draw(st.sampled_from([1, 4])), draw(st.sampled_from([1, 3]))
    kernel_size = draw(pair_or_int(1, 4))
    kh, kw = as_pair(kernel_size)
    stride = draw(st.none() | pair_or_int(1, 3))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))) if padded else 0
    ph, pw = as_pair(padding)
    h, w = draw(st.integers(max(1, kh - 2 * ph), 11)), draw(st.integers(max(1, kw - 2 * pw), 11))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w)) - draw(st.sampled_from([0.0, 3.0]))  # often all negative
    return {"x": x, "kernel_size": kernel_size, "stride": stride, "padding": padding}


def pool_kwargs(case: dict[str, Any]) -> dict[str, Any]:
    return {key: case[key] for key in ("stride", "padding") if key in case}


# ---------------------------------------------------------------------------------------------
# 1. The solution against torch, directly, on random shapes


@EXAMPLES
@given(pool_case())
def test_maxpool2d_forward_matches_torch(solution: dict[str, Any], case: dict[str, Any]) -> None:
    got = solution["maxpool2d_forward"](case["x"], case["kernel_size"], **pool_kwargs(case))
    assert_matches_torch(got, F.max_pool2d(torch.from_numpy(case["x"]), case["kernel_size"], case["stride"], as_pair(case["padding"])))


@EXAMPLES
@given(pool_case())
def test_avgpool2d_forward_matches_torch_counting_padding(solution: dict[str, Any], case: dict[str, Any]) -> None:
    got = solution["avgpool2d_forward"](case["x"], case["kernel_size"], **pool_kwargs(case))
    expected = F.avg_pool2d(torch.from_numpy(case["x"]), case["kernel_size"], case["stride"], as_pair(case["padding"]), count_include_pad=True)
    assert_matches_torch(got, expected)


@EXAMPLES
@given(pool_case(padded=False))
def test_lppool2d_forward_matches_torch_with_norm_2(solution: dict[str, Any], case: dict[str, Any]) -> None:
    got = solution["lppool2d_forward"](case["x"], case["kernel_size"], stride=case["stride"])
    assert_matches_torch(got, F.lp_pool2d(torch.from_numpy(case["x"]), 2, case["kernel_size"], case["stride"]))


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (4, 3, 7, 9), (1, 3, 5, 4)])
def test_global_avgpool_matches_adaptive_avg_pool(solution: dict[str, Any], shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(5).standard_normal(shape)
    assert_matches_torch(solution["global_avgpool"](x), F.adaptive_avg_pool2d(torch.from_numpy(x), 1).flatten(1))


def test_pools_keep_float32_and_do_not_write_into_inputs(solution: dict[str, Any]) -> None:
    x = np.random.default_rng(6).standard_normal((4, 3, 9, 8)).astype(np.float32)
    before = x.copy()
    calls = {
        "maxpool2d_forward": (x, 3, 2, 1),
        "avgpool2d_forward": (x, (3, 2), 2, (1, 0)),
        "lppool2d_forward": (x, 2),
        "global_avgpool": (x,),
    }
    for name, args in calls.items():
        assert solution[name](*args).dtype == np.float32, name
    expected = F.avg_pool2d(torch.from_numpy(x.astype(np.float64)), (3, 2), 2, (1, 0))
    assert_matches_torch(solution["avgpool2d_forward"](x, (3, 2), 2, (1, 0)), expected, tolerance=1e-5)
    assert np.array_equal(x, before)


# ---------------------------------------------------------------------------------------------
# 2. The oracle fixture is up to date, and grading needs no torch


def test_oracle_fixture_equals_a_fresh_build() -> None:
    assert_oracle_fixture_is_fresh(ASSIGNMENT)


def test_grading_the_solution_does_not_import_torch() -> None:
    assert_grading_imports_no_torch(ASSIGNMENT)


def test_notebook_has_one_locked_test_cell_per_check_and_no_forbidden_imports() -> None:
    assert_test_cells_match_checks(ASSIGNMENT)
    assert sum(check.points for check in checks_for(ASSIGNMENT)) == 16
    assert_notebook_is_numpy_only(ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 3. Checks on the solution and on a blank notebook


def test_every_check_passes_on_the_solution(solution_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_passes(solution_learner(ASSIGNMENT), ASSIGNMENT)


def test_every_check_fails_on_the_blank_notebook_saying_not_implemented(blank_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_says_not_implemented(blank_learner(ASSIGNMENT), ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 4. Seeded bugs fail the right checks with the right hint

EXCLUDE_PAD = "counts = pool_windows(np.ones_like(x), kernel_size, stride, padding, fill=0.0).sum(axis=(-2, -1))"
STRIDE_NONE = {
    "03.maxpool2d_forward.basic", "03.maxpool2d_forward.padding", "03.maxpool2d_forward.edge_cases",
    "03.avgpool2d_forward.basic", "03.avgpool2d_forward.padding", "03.lppool2d_forward.basic",
}
AVG = {"03.avgpool2d_forward.basic", "03.avgpool2d_forward.padding", "03.avgpool2d_forward.float32"}
MAX = {"03.maxpool2d_forward.basic", "03.maxpool2d_forward.padding", "03.maxpool2d_forward.edge_cases"}

VARIANTS: dict[str, tuple[Mapping[str, str], set[str], str, str]] = {
    "maxpool pads with zeros": (
        {"fill=-np.inf": "fill=0.0"},
        {"03.maxpool2d_forward.padding"}, "03.maxpool2d_forward.padding", "pads with -inf"),
    "maxpool starts the maximum at zero": (
        {"out = windows[..., 0, 0]": "out = np.zeros_like(windows[..., 0, 0])"},
        MAX, "03.maxpool2d_forward.padding", "start the running maximum at -inf"),
    "avgpool leaves padding out of the count": (
        {"counts = kh * kw": EXCLUDE_PAD},
        {"03.avgpool2d_forward.padding"}, "03.avgpool2d_forward.padding", "count_include_pad=False"),
    "avgpool returns window sums": (
        {"return window_sums / counts": "return window_sums"},
        AVG, "03.avgpool2d_forward.basic", "divide by the window size"),
    "lppool without the root": (
        {"return np.sqrt((pool_windows(x, kernel_size, stride) ** 2).sum(axis=(-2, -1)))": "return (pool_windows(x, kernel_size, stride) ** 2).sum(axis=(-2, -1))"},
        {"03.lppool2d_forward.basic"}, "03.lppool2d_forward.basic", "take the square root"),
    "lppool averages the squares": (
        {"** 2).sum(axis=(-2, -1)))": "** 2).mean(axis=(-2, -1)))"},
        {"03.lppool2d_forward.basic"}, "03.lppool2d_forward.basic", "sums the squares"),
    "stride defaults to 1": (
        {"as_pair(kernel_size if stride is None else stride)": "as_pair(1 if stride is None else stride)"},
        STRIDE_NONE, "03.maxpool2d_forward.basic", "stride=None means stride = kernel_size"),
    "pooling ignores the padding": (
        {"(ph, ph), (pw, pw)": "(0, 0), (0, 0)"},
        {"03.maxpool2d_forward.padding", "03.avgpool2d_forward.padding"}, "03.avgpool2d_forward.padding", "the size without padding"),
    "global_avgpool keeps the spatial axes": (
        {"return x.mean(axis=(2, 3))": "return x.mean(axis=(2, 3), keepdims=True)"},
        {"03.global_avgpool.basic"}, "03.global_avgpool.basic", "drop the two spatial axes"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_seeded_bug_fails_the_right_checks_with_a_hint(variant: str, variant_learner: Callable[..., InProcessLearner]) -> None:
    replacements, failing, hinted, hint = VARIANTS[variant]
    assert_seeded_bug_caught(run_checks(variant_learner(ASSIGNMENT, replacements), ASSIGNMENT), failing, {hinted: hint})
