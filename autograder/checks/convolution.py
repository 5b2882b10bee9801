"""Checks for 01-convolution: cross-correlation, true convolution, channels, Sobel edges.

Functions that build on ``corr2d`` are called with the grader's stand-in for ``corr2d`` swapped
in (:meth:`~autograder.learner.Learner.call_with_standins`), so a mistake in ``corr2d`` costs
its own points once instead of failing every later check.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograder.compare import assert_equal, assert_matches, describe_call
from autograder.i18n import N_
from autograder.learner import Learner
from autograder.oracles import oracle
from autograder.registry import check

ASSIGNMENT = "01-convolution"
FLOAT32_TOLERANCE = 1e-4

STANDIN_CORR2D = ("corr2d",)
STANDIN_MULTI_IN = ("corr2d", "corr2d_multi_in")

SOBEL_GX = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_GY = SOBEL_GX.T.copy()

FLIPPED_IN_CORR2D = N_(
    "this is the true convolution: corr2d must not flip the kernel. Cross-correlation reads "
    "out[i, j] = sum of x[i + a, j + b] * k[a, b]; PyTorch's conv2d computes exactly this."
)
NOT_FLIPPED = N_(
    "this is the cross-correlation: a true convolution first rotates the kernel by 180 degrees, "
    "e.g. corr2d(x, k[::-1, ::-1])."
)
HALF_FLIPPED = N_("the kernel is flipped along one axis only: rotate it by 180 degrees, i.e. reverse both axes (k[::-1, ::-1]).")
OFF_BY_ONE = N_("a kernel of height kh fits at H - kh + 1 positions (0 to H - kh inclusive), not H - kh.")


# Cases: seeded inputs, regenerated identically by the checks and by build_oracles.

def corr2d_cases(seed: int = 101) -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, k) pairs: odd sizes, non-square kernels, a single row."""
    rng = np.random.default_rng(seed)
    shapes = [((5, 7), (2, 3)), ((6, 6), (3, 3)), ((9, 4), (4, 1)), ((1, 8), (1, 3)), ((7, 5), (3, 5))]
    return [(rng.standard_normal(xs), rng.standard_normal(ks)) for xs, ks in shapes]


def corr2d_edge_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """A 1x1 kernel, a kernel as large as the input, and a negative integer-valued input."""
    rng = np.random.default_rng(102)
    return [
        (rng.standard_normal((4, 5)), np.array([[-2.5]])),
        (rng.standard_normal((3, 4)), rng.standard_normal((3, 4))),
        (-np.arange(20.0).reshape(4, 5), np.array([[1.0, -1.0], [2.0, 0.5]])),
    ]


def multi_in_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """(x (C, H, W), k (C, kh, kw)) with 1, 2 and 3 channels."""
    rng = np.random.default_rng(103)
    shapes = [((1, 5, 6), (2, 2)), ((3, 7, 5), (3, 2)), ((2, 4, 9), (1, 4)), ((3, 6, 6), (3, 3))]
    return [(rng.standard_normal(xs), rng.standard_normal((xs[0], *ks))) for xs, ks in shapes]


def multi_in_out_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """(x (C, H, W), k (O, C, kh, kw)) with C, O in {1, 2, 3, 4}."""
    rng = np.random.default_rng(104)
    shapes = [((1, 5, 5), 1, (3, 3)), ((3, 7, 6), 2, (2, 3)), ((2, 5, 8), 4, (5, 1)), ((3, 4, 4), 3, (1, 1))]
    return [(rng.standard_normal(xs), rng.standard_normal((o, xs[0], *ks))) for xs, o, ks in shapes]


def sobel_images() -> list[np.ndarray]:
    """A vertical step edge, a diagonal ramp and a random image."""
    step = np.zeros((6, 7))
    step[:, 4:] = 1.0
    ramp = np.add.outer(np.arange(5.0), 2.0 * np.arange(8.0))
    return [step, ramp, np.random.default_rng(105).standard_normal((9, 11))]


def float32_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """float32 inputs for ``corr2d`` and ``corr2d_multi_in_out``."""
    rng = np.random.default_rng(106)
    return {
        "corr2d": (rng.standard_normal((8, 9)).astype(np.float32), rng.standard_normal((3, 2)).astype(np.float32)),
        "corr2d_multi_in_out": (
            rng.standard_normal((3, 7, 8)).astype(np.float32),
            rng.standard_normal((2, 3, 3, 3)).astype(np.float32),
        ),
    }


def build_oracles() -> dict[str, np.ndarray]:
    """PyTorch's answers (float64) for every case, plus the classic wrong answers for hints."""
    import torch
    import torch.nn.functional as F

    def conv(x: np.ndarray, k: np.ndarray) -> np.ndarray:
        # (C, H, W) with (O, C, kh, kw) -> (O, H', W'), via F.conv2d (a cross-correlation).
        xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
        kt = torch.from_numpy(np.asarray(k, dtype=np.float64))
        return F.conv2d(xt[None], kt)[0].numpy()

    def corr(x: np.ndarray, k: np.ndarray) -> np.ndarray:
        return conv(x[None], k[None, None])[0]

    def flip(k: np.ndarray) -> np.ndarray:
        return torch.flip(torch.from_numpy(k), dims=(-2, -1)).numpy()

    out: dict[str, np.ndarray] = {}
    for i, (x, k) in enumerate(corr2d_cases()):
        out[f"corr2d.random.{i}"] = corr(x, k)
        out[f"corr2d.random.{i}.convolution"] = corr(x, flip(k))
    for i, (x, k) in enumerate(corr2d_edge_cases()):
        out[f"corr2d.edge.{i}"] = corr(x, k)
        out[f"corr2d.edge.{i}.convolution"] = corr(x, flip(k))
    for i, (x, k) in enumerate(corr2d_cases(seed=111)):
        out[f"conv2d_flipped.random.{i}"] = corr(x, flip(k))
        out[f"conv2d_flipped.random.{i}.correlation"] = corr(x, k)
        out[f"conv2d_flipped.random.{i}.rows_flipped"] = corr(x, k[::-1].copy())
        out[f"conv2d_flipped.random.{i}.columns_flipped"] = corr(x, k[:, ::-1].copy())
    for i, (x, k) in enumerate(multi_in_cases()):
        out[f"corr2d_multi_in.random.{i}"] = conv(x, k[None])[0]
        out[f"corr2d_multi_in.random.{i}.first_channel"] = corr(x[0], k[0])
    for i, (x, k) in enumerate(multi_in_out_cases()):
        out[f"corr2d_multi_in_out.random.{i}"] = conv(x, k)
    for i, img in enumerate(sobel_images()):
        gx, gy = corr(img, SOBEL_GX), corr(img, SOBEL_GY)
        out[f"sobel_magnitude.{i}"] = torch.sqrt(torch.from_numpy(gx**2 + gy**2)).numpy()
        out[f"sobel_magnitude.{i}.squared"] = gx**2 + gy**2
        out[f"sobel_magnitude.{i}.l1"] = np.abs(gx) + np.abs(gy)
        out[f"sobel_magnitude.{i}.gx_only"] = np.abs(gx)
        out[f"sobel_magnitude.{i}.gy_only"] = np.abs(gy)
    float32 = float32_cases()
    out["corr2d.float32"] = corr(*float32["corr2d"])
    out["corr2d_multi_in_out.float32"] = conv(*float32["corr2d_multi_in_out"])
    return out


def _expected(key: str) -> np.ndarray:
    return oracle(ASSIGNMENT, key)


def assert_float32(got: Any, expected: np.ndarray, call: str) -> None:
    """``got`` is close to the float64 oracle of the float32 inputs and is itself float32."""
    assert_matches(got, expected, call=call, tolerance=FLOAT32_TOLERANCE)
    assert_equal(
        str(got.dtype),
        "float32",
        call=call,
        what=N_("the result's dtype"),
        hint=N_("float32 inputs should give a float32 result, as in PyTorch: create arrays with dtype=x.dtype (np.zeros defaults to float64)."),
    )


def _corr2d_shape_hints(x: np.ndarray, k: np.ndarray) -> list[tuple[tuple[int, ...], str]]:
    (h, w), (kh, kw) = x.shape, k.shape
    return [((h - kh, w - kw), OFF_BY_ONE), ((h - kh, w - kw + 1), OFF_BY_ONE), ((h - kh + 1, w - kw), OFF_BY_ONE)]


def _check_corr2d(learner: Learner, cases: list[tuple[np.ndarray, np.ndarray]], key: str) -> None:
    for i, (x, k) in enumerate(cases):
        assert_matches(
            learner.call("corr2d", x, k),
            _expected(f"{key}.{i}"),
            call=describe_call("corr2d", x, k),
            hints=[(FLIPPED_IN_CORR2D, _expected(f"{key}.{i}.convolution"))],
            shape_hints=_corr2d_shape_hints(x, k),
        )


@check("01.corr2d.random", N_("corr2d matches F.conv2d on random inputs"), points=2)
def test_corr2d_random(learner: Learner) -> None:
    _check_corr2d(learner, corr2d_cases(), "corr2d.random")


@check("01.corr2d.edge_cases", N_("corr2d with a 1x1 kernel and a kernel as large as the input"), points=1)
def test_corr2d_edge_cases(learner: Learner) -> None:
    _check_corr2d(learner, corr2d_edge_cases(), "corr2d.edge")


@check("01.corr2d.float32", N_("corr2d keeps float32 inputs float32"), points=1)
def test_corr2d_float32(learner: Learner) -> None:
    x, k = float32_cases()["corr2d"]
    assert_float32(learner.call("corr2d", x, k), _expected("corr2d.float32"), describe_call("corr2d", x, k))


@check("01.conv2d_flipped.random", N_("conv2d_flipped is the true convolution (kernel rotated 180°)"), points=2)
def test_conv2d_flipped_random(learner: Learner) -> None:
    for i, (x, k) in enumerate(corr2d_cases(seed=111)):
        key = f"conv2d_flipped.random.{i}"
        assert_matches(
            learner.call_with_standins("conv2d_flipped", STANDIN_CORR2D, x, k),
            _expected(key),
            call=describe_call("conv2d_flipped", x, k),
            hints=[
                (NOT_FLIPPED, _expected(f"{key}.correlation")),
                (HALF_FLIPPED, _expected(f"{key}.rows_flipped")),
                (HALF_FLIPPED, _expected(f"{key}.columns_flipped")),
            ],
            shape_hints=_corr2d_shape_hints(x, k),
        )


@check("01.corr2d_multi_in.random", N_("corr2d_multi_in sums the correlations over input channels"), points=2)
def test_corr2d_multi_in_random(learner: Learner) -> None:
    for i, (x, k) in enumerate(multi_in_cases()):
        expected = _expected(f"corr2d_multi_in.random.{i}")
        assert_matches(
            learner.call_with_standins("corr2d_multi_in", STANDIN_CORR2D, x, k),
            expected,
            call=describe_call("corr2d_multi_in", x, k),
            hints=[(N_("only channel 0 was used: sum the correlations of every channel."), _expected(f"corr2d_multi_in.random.{i}.first_channel"))],
            shape_hints=[((x.shape[0], *expected.shape), N_("one map per channel came back: add them up over the channel axis (axis 0)."))],
        )


@check("01.corr2d_multi_in_out.random", N_("corr2d_multi_in_out gives one output channel per kernel"), points=3)
def test_corr2d_multi_in_out_random(learner: Learner) -> None:
    for i, (x, k) in enumerate(multi_in_out_cases()):
        expected = _expected(f"corr2d_multi_in_out.random.{i}")
        assert_matches(
            learner.call_with_standins("corr2d_multi_in_out", STANDIN_MULTI_IN, x, k),
            expected,
            call=describe_call("corr2d_multi_in_out", x, k),
            shape_hints=[
                (expected.shape[1:], N_("the output needs one channel per kernel: stack the O results along a new axis 0.")),
                ((k.shape[0], x.shape[0], *expected.shape[1:]), N_("sum over the input channels C; only the output channels O stay.")),
            ],
        )


@check("01.corr2d_multi_in_out.float32", N_("corr2d_multi_in_out keeps float32 inputs float32"), points=1)
def test_corr2d_multi_in_out_float32(learner: Learner) -> None:
    x, k = float32_cases()["corr2d_multi_in_out"]
    got = learner.call_with_standins("corr2d_multi_in_out", STANDIN_MULTI_IN, x, k)
    assert_float32(got, _expected("corr2d_multi_in_out.float32"), describe_call("corr2d_multi_in_out", x, k))


@check("01.sobel_magnitude.images", N_("sobel_magnitude finds edges in a step, a ramp and a random image"), points=2)
def test_sobel_magnitude_images(learner: Learner) -> None:
    for i, img in enumerate(sobel_images()):
        key = f"sobel_magnitude.{i}"
        assert_matches(
            learner.call_with_standins("sobel_magnitude", STANDIN_CORR2D, img),
            _expected(key),
            call=describe_call("sobel_magnitude", img),
            hints=[
                (N_("this is gx² + gy²: take the square root of the sum."), _expected(f"{key}.squared")),
                (N_("this is |gx| + |gy|: the magnitude is sqrt(gx² + gy²)."), _expected(f"{key}.l1")),
                (N_("only the horizontal gradient gx was used: combine it with gy (the transposed kernel)."), _expected(f"{key}.gx_only")),
                (N_("only the vertical gradient gy was used: combine it with gx."), _expected(f"{key}.gy_only")),
                (N_("gy used the same kernel as gx: the vertical Sobel kernel is the transpose of the horizontal one."), np.sqrt(2) * _expected(f"{key}.gx_only")),
            ],
            shape_hints=[(img.shape, N_("valid mode: a 3x3 kernel gives (H - 2, W - 2); do not pad."))],
        )


# ==== HIDDEN CHECKS: instructor only; the student release ends this module above this line ====
# Official grading (autograder.classroom.official) adds these to the public checks; their
# oracles live in oracle_data/hidden/, which the student release leaves out too.


def hidden_large_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """(x, k) at MNIST's size: a 28x28 image with 5x5 and 3x7 kernels."""
    rng = np.random.default_rng(191)
    return [(rng.standard_normal((28, 28)), rng.standard_normal(ks)) for ks in ((5, 5), (3, 7))]


def build_hidden_oracles() -> dict[str, np.ndarray]:
    """PyTorch's answers (float64) for the hidden cases, with the unflipped-kernel hint."""
    import torch
    import torch.nn.functional as F

    out: dict[str, np.ndarray] = {}
    for i, (x, k) in enumerate(hidden_large_cases()):
        xt, kt = torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None]
        out[f"corr2d.hidden_large.{i}"] = F.conv2d(xt, kt)[0, 0].numpy()
        out[f"corr2d.hidden_large.{i}.convolution"] = F.conv2d(xt, torch.flip(kt, dims=(-2, -1)))[0, 0].numpy()
    return out


@check("01.corr2d.hidden_large", N_("corr2d on MNIST-sized 28x28 images"), points=1, hidden=True)
def test_corr2d_hidden_large(learner: Learner) -> None:
    _check_corr2d(learner, hidden_large_cases(), "corr2d.hidden_large")
