"""01-convolution: the solution against PyTorch, the oracle fixture, and the checks on the
solution, on a blank notebook and on seeded-bug variants."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import convolve2d

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
    run_checks,
)

pytestmark = pytest.mark.convolution

ASSIGNMENT = "01-convolution"
EXAMPLES = settings(max_examples=15, deadline=None, derandomize=True)


@st.composite
def image_and_kernel(draw: st.DrawFn, channels: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """An odd- or even-sized input and a kernel that fits, possibly non-square, from a seed."""
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if not channels:
        return rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
    c, o = draw(st.sampled_from([1, 3])), draw(st.integers(1, 4))
    return rng.standard_normal((c, h, w)), rng.standard_normal((o, c, kh, kw))


def torch_corr(x: np.ndarray, k: np.ndarray) -> torch.Tensor:
    return F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None])[0, 0]


# ---------------------------------------------------------------------------------------------
# 1. The solution against torch, directly, on random shapes


@EXAMPLES
@given(image_and_kernel())
def test_corr2d_matches_conv2d_on_random_shapes(solution: dict[str, Any], case: tuple[np.ndarray, np.ndarray]) -> None:
    assert_matches_torch(solution["corr2d"](*case), torch_corr(*case))


@EXAMPLES
@given(image_and_kernel())
def test_conv2d_flipped_matches_conv2d_with_rotated_kernel_and_scipy(solution: dict[str, Any], case: tuple[np.ndarray, np.ndarray]) -> None:
    x, k = case
    got = solution["conv2d_flipped"](x, k)
    assert_matches_torch(got, torch_corr(x, np.rot90(k, 2).copy()))
    assert_matches_torch(got, convolve2d(x, k, mode="valid"))


@EXAMPLES
@given(image_and_kernel(channels=True))
def test_corr2d_multi_in_out_matches_conv2d_with_channels(solution: dict[str, Any], case: tuple[np.ndarray, np.ndarray]) -> None:
    x, k = case
    expected = F.conv2d(torch.from_numpy(x)[None], torch.from_numpy(k))[0]
    assert_matches_torch(solution["corr2d_multi_in_out"](x, k), expected)
    assert_matches_torch(solution["corr2d_multi_in"](x, k[0]), expected[0])


def test_sobel_magnitude_matches_conv2d_with_sobel_kernels(solution: dict[str, Any]) -> None:
    img = np.random.default_rng(0).standard_normal((13, 10))
    kernels = torch.tensor([[[[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]], [[[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]]]], dtype=torch.float64)
    gradients = F.conv2d(torch.from_numpy(img)[None, None], kernels)[0]
    assert_matches_torch(solution["sobel_magnitude"](img), gradients.pow(2).sum(0).sqrt())


def test_sobel_magnitude_accepts_integer_images(solution: dict[str, Any]) -> None:
    img = np.zeros((5, 5), dtype=np.uint8)
    img[:, 3:] = 200
    assert solution["sobel_magnitude"](img).max() == pytest.approx(800.0)


def test_functions_keep_float32_and_do_not_write_into_inputs(solution: dict[str, Any]) -> None:
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((3, 7, 6)).astype(np.float32), rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    before = x.copy(), k.copy()
    calls = {
        "corr2d": (x[0], k[0, 0]),
        "conv2d_flipped": (x[0], k[0, 0]),
        "corr2d_multi_in": (x, k[0]),
        "corr2d_multi_in_out": (x, k),
        "sobel_magnitude": (x[0],),
    }
    for name, args in calls.items():
        got = solution[name](*args)
        assert got.dtype == np.float32, name
    expected = F.conv2d(torch.from_numpy(x.astype(np.float64))[None], torch.from_numpy(k.astype(np.float64)))[0]
    assert_matches_torch(solution["corr2d_multi_in_out"](x, k), expected, tolerance=1e-5)
    assert np.array_equal(x, before[0]) and np.array_equal(k, before[1])


# ---------------------------------------------------------------------------------------------
# 2. The oracle fixture is up to date, and grading needs no torch


def test_oracle_fixture_equals_a_fresh_build() -> None:
    assert_oracle_fixture_is_fresh(ASSIGNMENT)


def test_grading_the_solution_does_not_import_torch() -> None:
    assert_grading_imports_no_torch(ASSIGNMENT)


def test_notebook_has_one_locked_test_cell_per_check_and_no_forbidden_imports() -> None:
    assert_test_cells_match_checks(ASSIGNMENT)
    assert sum(check.points for check in checks_for(ASSIGNMENT)) == 14
    assert_notebook_is_numpy_only(ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 3. Checks on the solution and on a blank notebook


def test_every_check_passes_on_the_solution(solution_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_passes(solution_learner(ASSIGNMENT), ASSIGNMENT)


def test_every_check_fails_on_the_blank_notebook_saying_not_implemented(blank_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_says_not_implemented(blank_learner(ASSIGNMENT), ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 4. Seeded bugs fail the right checks with the right hint

ALL_CORR2D = {"01.corr2d.random", "01.corr2d.edge_cases", "01.corr2d.float32"}

VARIANTS: dict[str, tuple[Mapping[str, str], set[str], str, str]] = {
    "conv2d_flipped without the flip": (
        {"return corr2d(x, k[::-1, ::-1])": "return corr2d(x, k)"},
        {"01.conv2d_flipped.random"}, "01.conv2d_flipped.random", "this is the cross-correlation"),
    "conv2d_flipped flips the rows only": (
        {"return corr2d(x, k[::-1, ::-1])": "return corr2d(x, k[::-1])"},
        {"01.conv2d_flipped.random"}, "01.conv2d_flipped.random", "flipped along one axis only"),
    "corr2d flips the kernel": (
        {"np.sum(x[i:i + kh, j:j + kw] * k)": "np.sum(x[i:i + kh, j:j + kw] * k[::-1, ::-1])"},
        ALL_CORR2D, "01.corr2d.random", "this is the true convolution"),
    "corr2d output one row and column short": (
        {"x.shape[0] - kh + 1, x.shape[1] - kw + 1": "x.shape[0] - kh, x.shape[1] - kw"},
        ALL_CORR2D, "01.corr2d.random", "H - kh + 1 positions"),
    "corr2d allocates float64": (
        {"dtype=np.result_type(x, k))": ")"},
        {"01.corr2d.float32"}, "01.corr2d.float32", "np.zeros defaults to float64"),
    "corr2d_multi_in does not sum the channels": (
        {"return sum(corr2d(x_c, k_c) for x_c, k_c in zip(x, k))": "return np.stack([corr2d(x_c, k_c) for x_c, k_c in zip(x, k)])"},
        {"01.corr2d_multi_in.random"}, "01.corr2d_multi_in.random", "add them up over the channel axis"),
    "corr2d_multi_in uses the first channel only": (
        {"return sum(corr2d(x_c, k_c) for x_c, k_c in zip(x, k))": "return corr2d(x[0], k[0])"},
        {"01.corr2d_multi_in.random"}, "01.corr2d_multi_in.random", "only channel 0 was used"),
    "sobel_magnitude without the square root": (
        {"return np.sqrt(gx**2 + gy**2)": "return gx**2 + gy**2"},
        {"01.sobel_magnitude.images"}, "01.sobel_magnitude.images", "take the square root"),
    "sobel_magnitude with gx only": (
        {"return np.sqrt(gx**2 + gy**2)": "return np.sqrt(gx**2)"},
        {"01.sobel_magnitude.images"}, "01.sobel_magnitude.images", "only the horizontal gradient gx"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_seeded_bug_fails_the_right_checks_with_a_hint(variant: str, variant_learner: Callable[..., InProcessLearner]) -> None:
    replacements, failing, hinted, hint = VARIANTS[variant]
    assert_seeded_bug_caught(run_checks(variant_learner(ASSIGNMENT, replacements), ASSIGNMENT), failing, {hinted: hint})
