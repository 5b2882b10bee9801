"""Checks for 02-padding-stride: output sizes, same padding, zero padding and the
convolution layer's forward pass, loops first, then vectorized and timed against PyTorch.

``conv2d_forward`` and ``conv2d_forward_loops`` are called with the grader's stand-ins for ``pad2d`` and
``conv_output_size`` swapped in, so a mistake in a helper costs its own points once.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Sequence

import numpy as np

from autograder.checks.convolution import assert_float32
from autograder.compare import assert_equal, assert_matches, describe_call, describe_value, with_hint
from autograder.i18n import N_, _
from autograder.learner import Learner, LearnerError
from autograder.machine import cpu_model
from autograder.oracles import oracle
from autograder.paths import REPO_ROOT, cache_dir
from autograder.registry import CheckFailed, check

ASSIGNMENT = "02-padding-stride"
SPEED_LIMIT = 25.0
SPEED_REPEATS = 5

STANDIN_HELPERS = ("pad2d", "conv_output_size")

Pair = int | tuple[int, int]


def as_pair(value: Pair) -> tuple[int, int]:
    """``(v, v)`` for an int, else the pair as two ints."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    first, second = value
    return int(first), int(second)


def output_size(n: int, k: int, padding: int = 0, stride: int = 1, rounding: Any = math.floor) -> int:
    """The output size with a chosen rounding; only for recognising wrong shapes in hints."""
    return int(rounding((n + 2 * padding - k) / stride)) + 1


# Cases: seeded inputs, regenerated identically by the checks and by build_oracles.

# (n, k, padding, stride, dilation): floor matters in most of them; AlexNet's and ResNet's first layers.
OUTPUT_SIZE_CASES: tuple[tuple[int, int, int, int, int], ...] = (
    (5, 3, 0, 1, 1), (5, 3, 1, 1, 1), (7, 3, 0, 2, 1), (6, 3, 0, 2, 1), (8, 3, 1, 2, 1),
    (28, 5, 2, 1, 1), (28, 5, 0, 1, 1), (14, 2, 0, 2, 1), (10, 3, 0, 3, 1), (11, 3, 0, 3, 1),
    (9, 3, 0, 1, 2), (10, 3, 2, 3, 2), (224, 7, 3, 2, 1), (224, 11, 2, 4, 1), (7, 7, 0, 1, 1),
    (1, 1, 0, 1, 1), (5, 1, 0, 2, 1), (4, 3, 0, 5, 1), (3, 5, 1, 1, 1), (12, 4, 1, 3, 1),
)

# (args, kwargs, what is wrong): each must raise ValueError.
OUTPUT_SIZE_ERRORS: tuple[tuple[tuple[int, ...], dict[str, int], str], ...] = (
    ((5, 0), {}, N_("a kernel needs at least one pixel")),
    ((5, 3), {"stride": 0}, N_("a stride of 0 never moves the window")),
    ((5, 3), {"dilation": 0}, N_("dilation must be at least 1")),
    ((5, 3), {"padding": -1}, N_("padding cannot be negative")),
    ((3, 5), {}, N_("a 5-wide window does not fit in 3 pixels")),
    ((5, 3), {"dilation": 3}, N_("the dilated window spans 7 pixels, more than 5")),
    ((2, 5), {"padding": 1}, N_("a 5-wide window does not fit in 2 + 2 padded pixels")),
)

SAME_PADDING_CASES: tuple[tuple[int, int], ...] = ((1, 1), (3, 1), (5, 1), (7, 1), (3, 2), (2, 2), (5, 3), (4, 2))
SAME_PADDING_ERRORS: tuple[tuple[int, int], ...] = ((2, 1), (4, 1), (6, 1), (2, 3), (4, 3))


def pad2d_cases() -> list[tuple[np.ndarray, Pair]]:
    """(x, padding): ints, pairs with ph != pw, zero padding, and one float32 input."""
    rng = np.random.default_rng(201)
    cases: list[tuple[np.ndarray, Pair]] = [
        (rng.standard_normal((1, 1, 3, 4)), 1),
        (rng.standard_normal((4, 3, 5, 5)), (1, 2)),
        (rng.standard_normal((2, 3, 4, 3)), (0, 3)),
        (rng.standard_normal((1, 1, 2, 2)), (2, 0)),
        (rng.standard_normal((1, 3, 3, 3)), 0),
    ]
    cases.append((rng.standard_normal((4, 3, 5, 6)).astype(np.float32), (2, 1)))
    return cases


def _conv_case(rng: np.random.Generator, n: int, c: int, h: int, w: int, o: int, kh: int, kw: int) -> tuple[np.ndarray, ...]:
    return rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, kh, kw)), rng.standard_normal(o)


def conv_basic_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(x, w, b) for stride 1 and no padding: batch 1 and 4, 1 and 3 channels, a full-size kernel."""
    rng = np.random.default_rng(202)
    shapes = [(1, 1, 5, 7, 1, 3, 3), (4, 3, 8, 6, 2, 3, 2), (4, 3, 7, 7, 5, 1, 1), (1, 3, 6, 9, 4, 6, 9), (4, 1, 9, 5, 3, 2, 5)]
    return [_conv_case(rng, *shape) for shape in shapes]  # type: ignore[misc]


def conv_stride_padding_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, Pair, Pair]]:
    """(x, w, b, stride, padding): strides 2 and 3, pairs, padding pairs with ph != pw."""
    rng = np.random.default_rng(203)
    setups: list[tuple[tuple[int, ...], Pair, Pair]] = [
        ((1, 1, 7, 7, 1, 3, 3), 2, 0),
        ((4, 3, 9, 8, 2, 3, 3), 3, 1),
        ((1, 3, 11, 9, 4, 3, 2), (2, 3), (1, 2)),
        ((4, 1, 8, 10, 2, 5, 3), 1, (2, 0)),
        ((4, 3, 7, 9, 3, 2, 4), 2, (0, 1)),
        ((1, 3, 10, 7, 2, 3, 3), 3, (1, 2)),
        ((4, 3, 6, 6, 2, 4, 2), (1, 2), 1),
        ((1, 1, 5, 5, 1, 5, 5), 2, 2),
    ]
    return [(*_conv_case(rng, *shape), stride, padding) for shape, stride, padding in setups]  # type: ignore[misc]


def conv_loops_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray, Pair, Pair]]:
    """Small (x, w, b, stride, padding) for the loop version."""
    rng = np.random.default_rng(204)
    return [
        (*_conv_case(rng, 2, 2, 5, 6, 2, 3, 2), (2, 1), (1, 0)),
        (*_conv_case(rng, 1, 1, 4, 4, 1, 2, 2), 2, 0),
        (*_conv_case(rng, 1, 3, 5, 5, 2, 3, 3), 1, 1),
    ]  # type: ignore[list-item]


def conv_float32_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(206)
    return tuple(a.astype(np.float32) for a in _conv_case(rng, 4, 3, 9, 8, 4, 3, 3))  # type: ignore[return-value]


def speed_case(fresh: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LeNet-5's second convolution on a batch of 64: x (64, 6, 14, 14), w (16, 6, 5, 5), b (16,);
    seeded, or with ``fresh`` new unpredictable values of the same shapes (one per timed call, so
    no answer can be looked up: the values never decide the time, the shapes do)."""
    return _conv_case(np.random.default_rng(None if fresh else 205), 64, 6, 14, 14, 16, 5, 5)  # type: ignore[return-value]


def reference_conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The trusted NumPy convolution each timed call of the learner's is compared with."""
    from autograder.isolation.standins import conv2d_forward

    return conv2d_forward(x, w, b)




def build_oracles() -> dict[str, np.ndarray]:
    """PyTorch's answers (float64) for every case, plus the classic wrong answers for hints."""
    import torch
    import torch.nn.functional as F

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(a, dtype=np.float64))

    def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Pair = 1, padding: Pair = 0) -> np.ndarray:
        return F.conv2d(tensor(x), tensor(w), None if b is None else tensor(b), stride=as_pair(stride), padding=as_pair(padding)).numpy()

    def pad_one_side(x: np.ndarray, padding: Pair) -> np.ndarray:
        ph, pw = as_pair(padding)
        return F.pad(tensor(x), (0, 2 * pw, 0, 2 * ph)).numpy()

    out: dict[str, np.ndarray] = {}
    sizes = []
    for n, k, p, s, d in OUTPUT_SIZE_CASES:
        shape = F.conv2d(torch.zeros(1, 1, n, n, dtype=torch.float64), torch.zeros(1, 1, k, k, dtype=torch.float64), stride=s, padding=p, dilation=d).shape
        sizes.append(shape[-1])
    out["conv_output_size.formula"] = np.array(sizes, dtype=np.int64)

    paddings = []
    for k, d in SAME_PADDING_CASES:
        x = torch.zeros(1, 1, 15, 15, dtype=torch.float64)
        w = torch.zeros(1, 1, k, k, dtype=torch.float64)
        paddings.append(next(p for p in range(k * d) if F.conv2d(x, w, padding=p, dilation=d).shape[-1] == 15))
    out["same_padding.values"] = np.array(paddings, dtype=np.int64)

    for i, (x, padding) in enumerate(pad2d_cases()):
        ph, pw = as_pair(padding)
        out[f"pad2d.{i}"] = F.pad(tensor(x), (pw, pw, ph, ph)).numpy()
        out[f"pad2d.{i}.one_side"] = pad_one_side(x, padding)

    for i, (x, w, b) in enumerate(conv_basic_cases()):
        out[f"conv2d_forward.basic.{i}"] = conv(x, w, b)
        out[f"conv2d_forward.basic.{i}.no_bias"] = conv(x, w, None)
        out[f"conv2d_forward.basic.{i}.flipped"] = conv(x, torch.flip(tensor(w), dims=(-2, -1)).numpy(), b)
    for i, (x, w, b, stride, padding) in enumerate(conv_stride_padding_cases()):
        out[f"conv2d_forward.stride_padding.{i}"] = conv(x, w, b, stride, padding)
        out[f"conv2d_forward.stride_padding.{i}.one_side"] = conv(pad_one_side(x, padding), w, b, stride)
    for i, (x, w, b, stride, padding) in enumerate(conv_loops_cases()):
        out[f"conv2d_forward_loops.{i}"] = conv(x, w, b, stride, padding)
        oh, ow = out[f"conv2d_forward_loops.{i}"].shape[2:]
        out[f"conv2d_forward_loops.{i}.window_not_strided"] = conv(x, w, b, 1, padding)[:, :, :oh, :ow]
    out["conv2d_forward.float32"] = conv(*conv_float32_case())
    out["conv2d_forward.speed.head"] = conv(*speed_case())[:2]
    return out


def _expected(key: str) -> np.ndarray:
    return oracle(ASSIGNMENT, key)


def assert_raises_value_error(learner: Learner, name: str, args: Sequence[Any], kwargs: dict[str, Any], why: str) -> None:
    call = describe_call(name, *args, **kwargs)
    try:
        value = learner.call(name, *args, **kwargs)
    except LearnerError as error:
        if error.exception == "ValueError":
            return
        if error.exception == "NotImplementedError":
            raise
        raise CheckFailed(_("{call} should raise ValueError ({why}), but: {problem}").format(call=call, why=_(why), problem=error)) from None
    raise CheckFailed(
        _("{call} returned {value}, but {why}: raise ValueError with a one-line message saying what to change.").format(call=call, value=describe_value(value), why=_(why))
    )


def _assert_valid_calls_succeed(learner: Learner, name: str, cases: Sequence[tuple[tuple[Any, ...], dict[str, Any]]], expected: Sequence[Any]) -> None:
    """An ``.errors`` check pays only when valid calls still return the right value, so a
    function that always raises ValueError earns nothing there."""
    for (args, kwargs), want in zip(cases, expected):
        call = describe_call(name, *args, **kwargs)
        try:
            got = learner.call(name, *args, **kwargs)
        except LearnerError as error:
            raise CheckFailed(_("{call} must succeed (it is a valid call), but: {problem}").format(call=call, problem=error)) from None
        if got != int(want):
            raise CheckFailed(_("{call} returned {got}, expected {want}: raising ValueError counts only once valid calls are right.").format(call=call, got=repr(got), want=int(want)))


def unique_shape_hints(
    expected: tuple[int, ...],
    candidates: Sequence[tuple[tuple[int, ...], str]],
    fallbacks: Sequence[tuple[tuple[int, ...], str]] = (),
) -> list[tuple[tuple[int, ...], str]]:
    """Keep only wrong shapes that differ from the right one and point to a single mistake;
    ``fallbacks`` (vaguer hints) only where no candidate has their shape."""
    texts: dict[tuple[int, ...], set[str]] = {}
    for shape, text in candidates:
        texts.setdefault(tuple(shape), set()).add(text)
    kept = [(shape, text) for shape, text in dict(candidates).items() if shape != expected and len(texts[tuple(shape)]) == 1]
    return kept + [(shape, text) for shape, text in fallbacks if shape != expected and tuple(shape) not in texts]


CEIL_HINT = N_("you rounded up: a window that would stick out past the padded input is dropped, so round down (use //).")
NO_PLUS_ONE_HINT = N_("count the first position too: (last start) // stride + 1.")
STRIDE_IGNORED = N_("this is the stride-1 size: the stride was ignored; step the window by the stride (e.g. [:, :, ::sh, ::sw]).")
PADDING_IGNORED = N_("this is the size without padding: pad the input before sliding the window.")
ONE_SIDE = N_("the padding went on one side only: put ph rows on top and ph at the bottom, pw columns left and pw right.")
FLIPPED = N_("the kernel is flipped: conv2d in deep learning is a cross-correlation, so use w as it is.")
WINDOW_NOT_STRIDED = N_("the output has the right size but the window moves by 1: output (i, j) reads the window starting at (i * stride, j * stride).")
SLOW_HINT = N_(
    "take all windows at once with sliding_window_view and contract them with np.tensordot; a Python loop over "
    "output pixels is slow, and so is np.einsum without optimize=True."
)
NO_BIAS = N_("the bias is missing: add b[o] to every position of output channel o.")


@check("02.conv_output_size.formula", N_("conv_output_size floors (n + 2p - d(k-1) - 1)/s and adds 1"), points=2)
def test_conv_output_size_formula(learner: Learner) -> None:
    for (n, k, p, s, d), expected in zip(OUTPUT_SIZE_CASES, _expected("conv_output_size.formula")):
        kwargs = {"padding": p, "stride": s, "dilation": d}
        call = describe_call("conv_output_size", n, k, **kwargs)
        got = learner.call("conv_output_size", n, k, **kwargs)
        if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
            raise CheckFailed(_("{call} returned {got} ({type}); return an int: use // (floor division), not /.").format(call=call, got=repr(got), type=type(got).__name__))
        span = d * (k - 1) + 1
        hint = None
        if got != expected and got == output_size(n, span, p, s, rounding=math.ceil):
            hint = CEIL_HINT
        elif got != expected and got == expected - 1:
            hint = NO_PLUS_ONE_HINT
        elif got != expected and d > 1 and got == output_size(n, k, p, s):
            hint = N_("the dilation was ignored: a dilated kernel spans d(k - 1) + 1 pixels.")
        assert_equal(int(got), int(expected), call=call, hint=hint)


@check("02.conv_output_size.errors", N_("conv_output_size raises ValueError for impossible settings"), points=1)
def test_conv_output_size_errors(learner: Learner) -> None:
    _assert_valid_calls_succeed(learner, "conv_output_size", [((n, k), {"padding": p, "stride": s, "dilation": d}) for n, k, p, s, d in OUTPUT_SIZE_CASES[:2]], _expected("conv_output_size.formula")[:2])
    for args, kwargs, why in OUTPUT_SIZE_ERRORS:
        assert_raises_value_error(learner, "conv_output_size", args, kwargs, why)


@check("02.same_padding.values", N_("same_padding keeps the size at stride 1"), points=1)
def test_same_padding_values(learner: Learner) -> None:
    for (k, d), expected in zip(SAME_PADDING_CASES, _expected("same_padding.values")):
        call = describe_call("same_padding", k, dilation=d)
        got = learner.call("same_padding", k, dilation=d)
        hint = N_("with dilation d the kernel spans d(k - 1) + 1 pixels, so p = d(k - 1) / 2.") if d > 1 else None
        assert_equal(got, int(expected), call=call, hint=hint)


@check("02.same_padding.errors", N_("same_padding raises ValueError for an even effective kernel"), points=1)
def test_same_padding_errors(learner: Learner) -> None:
    _assert_valid_calls_succeed(learner, "same_padding", [((k,), {"dilation": d}) for k, d in SAME_PADDING_CASES[:2]], _expected("same_padding.values")[:2])
    for k, d in SAME_PADDING_ERRORS:
        span = d * (k - 1) + 1
        why = _("the effective kernel spans {span} pixels, an even number, so no symmetric padding keeps the size").format(span=span)
        assert_raises_value_error(learner, "same_padding", (k,), {"dilation": d}, why)


@check("02.pad2d.values", N_("pad2d adds zeros on both sides of H and W"), points=2)
def test_pad2d_values(learner: Learner) -> None:
    for i, (x, padding) in enumerate(pad2d_cases()):
        call = describe_call("pad2d", x, padding)
        expected = _expected(f"pad2d.{i}")
        ph, pw = as_pair(padding)
        h, w = x.shape[2:]
        got = learner.call("pad2d", x, padding)
        assert_matches(
            got,
            expected,
            call=call,
            hints=[(ONE_SIDE, _expected(f"pad2d.{i}.one_side"))],
            shape_hints=unique_shape_hints(
                expected.shape,
                [
                    ((*x.shape[:2], h + ph, w + pw), ONE_SIDE),
                    ((*x.shape[:2], h + 2 * pw, w + 2 * ph), N_("padding=(ph, pw) pads H by ph and W by pw; they are swapped.")),
                    ((*x.shape[:2], h, w), N_("nothing was padded.")),
                ],
            ),
        )
        assert_equal(str(got.dtype), str(x.dtype), call=call, what=N_("the result's dtype"), hint=N_("keep the input's dtype (np.pad does; np.zeros needs dtype=x.dtype)."))


def _conv_shape_hints(x: np.ndarray, w: np.ndarray, stride: Pair, padding: Pair) -> list[tuple[tuple[int, ...], str]]:
    (sh, sw), (ph, pw) = as_pair(stride), as_pair(padding)
    n, o, (h, wd), (kh, kw) = x.shape[0], w.shape[0], x.shape[2:], w.shape[2:]

    def shape(ph: float, pw: float, sh: int, sw: int, rounding: Any = math.floor) -> tuple[int, ...]:
        return (n, o, output_size(h, kh, ph, sh, rounding), output_size(wd, kw, pw, sw, rounding))

    expected = shape(ph, pw, sh, sw)
    return unique_shape_hints(
        expected,
        [
            (shape(ph, pw, 1, 1), STRIDE_IGNORED),
            (shape(ph, pw, sh, sw, math.ceil), CEIL_HINT),
            (shape(0, 0, sh, sw), PADDING_IGNORED),
            (shape(ph / 2, pw / 2, sh, sw), ONE_SIDE),
            (shape(pw, ph, sh, sw), N_("padding=(ph, pw) pads H by ph and W by pw; they are swapped.")),
            (shape(ph, pw, sw, sh), N_("stride=(sh, sw) steps sh rows and sw columns; they are swapped.")),
        ],
    )


@check("02.conv2d_forward_loops.small", N_("conv2d_forward_loops matches F.conv2d on small inputs"), points=1)
def test_conv2d_forward_loops_small(learner: Learner) -> None:
    for i, (x, w, b, stride, padding) in enumerate(conv_loops_cases()):
        assert_matches(
            learner.call_with_standins("conv2d_forward_loops", STANDIN_HELPERS, x, w, b, stride=stride, padding=padding),
            _expected(f"conv2d_forward_loops.{i}"),
            call=describe_call("conv2d_forward_loops", x, w, b, stride=stride, padding=padding),
            hints=[(WINDOW_NOT_STRIDED, _expected(f"conv2d_forward_loops.{i}.window_not_strided"))],
            shape_hints=_conv_shape_hints(x, w, stride, padding),
        )


@check("02.conv2d_forward.basic", N_("conv2d_forward matches F.conv2d at stride 1 without padding"), points=3)
def test_conv2d_forward_basic(learner: Learner) -> None:
    for i, (x, w, b) in enumerate(conv_basic_cases()):
        key = f"conv2d_forward.basic.{i}"
        expected = _expected(key)
        n, o = expected.shape[:2]
        assert_matches(
            learner.call_with_standins("conv2d_forward", STANDIN_HELPERS, x, w, b),
            expected,
            call=describe_call("conv2d_forward", x, w, b),
            hints=[(FLIPPED, _expected(f"{key}.flipped")), (NO_BIAS, _expected(f"{key}.no_bias"))],
            shape_hints=[
                ((n, *expected.shape[2:], o), N_("the output channels must come second: (N, O, H', W'); transpose the result.")),
                ((o, n, *expected.shape[2:]), N_("the output is (N, O, H', W'): batch first, then output channels.")),
            ],
        )


@check("02.conv2d_forward.stride_padding", N_("conv2d_forward matches F.conv2d with strides and padding pairs"), points=4)
def test_conv2d_forward_stride_padding(learner: Learner) -> None:
    for i, (x, w, b, stride, padding) in enumerate(conv_stride_padding_cases()):
        key = f"conv2d_forward.stride_padding.{i}"
        assert_matches(
            learner.call_with_standins("conv2d_forward", STANDIN_HELPERS, x, w, b, stride=stride, padding=padding),
            _expected(key),
            call=describe_call("conv2d_forward", x, w, b, stride=stride, padding=padding),
            hints=[(ONE_SIDE, _expected(f"{key}.one_side"))],
            shape_hints=_conv_shape_hints(x, w, stride, padding),
        )


@check("02.conv2d_forward.float32", N_("conv2d_forward keeps float32 inputs float32"), points=1)
def test_conv2d_forward_float32(learner: Learner) -> None:
    x, w, b = conv_float32_case()
    got = learner.call_with_standins("conv2d_forward", STANDIN_HELPERS, x, w, b)
    assert_float32(got, _expected("conv2d_forward.float32"), describe_call("conv2d_forward", x, w, b))


# Speed: the learner's conv2d_forward against F.conv2d, timed on the same machine.

def measure_reference_per_torch(repeats: int = 25) -> float:
    """How many times faster one-threaded float64 ``F.conv2d`` is than the grader's trusted NumPy
    reference (:func:`autograder.isolation.standins.conv2d_forward`) on :func:`speed_case`:
    the fastest of ``repeats`` reference calls over the fastest of as many ``F.conv2d`` calls,
    timed in alternation, since a busy machine only ever adds time (imports torch; run it in a
    child process)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    arrays = speed_case()
    x, w, b = (torch.from_numpy(a) for a in arrays)
    for _warm_up in range(3):
        F.conv2d(x, w, b)
        reference_conv2d(*arrays)
    torch_seconds, reference_seconds = [], []
    for _repeat in range(repeats):
        start = time.perf_counter()
        F.conv2d(x, w, b)
        middle = time.perf_counter()
        reference_conv2d(*arrays)
        torch_seconds.append(middle - start)
        reference_seconds.append(time.perf_counter() - middle)
    return min(reference_seconds) / min(torch_seconds)


def _timing_key() -> str:
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    return f"conv2d_forward.speed.fastest_reference_per_torch | {cpu_model() or platform.processor() or platform.machine()} | torch {torch_version} | numpy {np.__version__}"


def reference_per_torch() -> float:
    """:func:`measure_reference_per_torch` (the NumPy reference's time in units of ``F.conv2d``'s) on
    this machine, cached in ``cache_dir()/timings.json`` by CPU model and torch and NumPy
    versions (importing torch here would cost the grader ~1.5 s).

    Raises:
        CheckFailed: the child process could not time PyTorch.
    """
    path = cache_dir() / "timings.json"
    key = _timing_key()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if isinstance(cached, dict) and isinstance(cached.get(key), float):
        return cached[key]
    code = "from autograder.checks.padding_stride import measure_reference_per_torch; print(measure_reference_per_torch())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=REPO_ROOT)
        seconds = float(result.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        raise CheckFailed(
            _("could not time PyTorch's F.conv2d for comparison; run `python -c \"import torch\"` to check the installation.")
        ) from None
    cached = cached if isinstance(cached, dict) else {}
    cached[key] = seconds
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(cached, indent=1), encoding="utf-8")
        partial.replace(path)
    except OSError:
        pass  # an unwritable cache only costs a new measurement next time
    return seconds


@check("02.conv2d_forward.speed", N_("conv2d_forward is vectorized: within 25x of F.conv2d"), points=3)
def test_conv2d_forward_speed(learner: Learner) -> None:
    x, w, b = speed_case()
    call = describe_call("conv2d_forward", x, w, b)
    head = _expected("conv2d_forward.speed.head")
    got = learner.call("conv2d_forward", x, w, b)
    expected_shape = (x.shape[0], *head.shape[1:])
    if not isinstance(got, np.ndarray) or got.shape != expected_shape:
        shape = getattr(got, "shape", type(got).__name__)
        raise CheckFailed(_("{call} returned {shape}, expected shape {want}; fix correctness first (02.conv2d_forward.basic), then its speed is measured.").format(call=call, shape=shape, want=expected_shape))
    try:
        assert_matches(got[:2], head, call=call)
    except CheckFailed:
        raise CheckFailed(_("{call} gives wrong values, so its speed is not measured; fix correctness first (02.conv2d_forward.basic).").format(call=call)) from None

    # The seeded call above proves correctness; the timed calls each get fresh unpredictable
    # inputs (nothing to look up), their whole output is checked, and the trusted NumPy reference
    # is timed beside each. A busy machine only ever adds time, to either side, so the fastest
    # learner call over the fastest reference call is the estimate load does not move.
    torch_units = reference_per_torch()  # the reference's time in units of F.conv2d's
    expected = reference_conv2d(x, w, b)
    try:
        assert_matches(got, expected, call=call)
    except CheckFailed:
        raise CheckFailed(_("{call} gives wrong values, so its speed is not measured; fix correctness first (02.conv2d_forward.basic).").format(call=call)) from None
    learner_seconds: list[float] = []
    reference_seconds: list[float] = []

    def timed_call() -> float:
        """Times one fresh pair; returns the ratio over all pairs so far, in units of F.conv2d."""
        x, w, b = speed_case(fresh=True)
        start = time.perf_counter()
        expected = reference_conv2d(x, w, b)
        middle = time.perf_counter()
        got = learner.call("conv2d_forward", x, w, b)
        learner_seconds.append(time.perf_counter() - middle)
        reference_seconds.append(middle - start)
        try:
            assert_matches(got, expected, call=call)
        except CheckFailed:
            raise CheckFailed(_("{call} gives wrong values on fresh inputs of the same shapes, so its speed is not measured; fix correctness first (02.conv2d_forward.basic).").format(call=call)) from None
        return min(learner_seconds) / min(reference_seconds) * torch_units

    # Far too slow (loops: hundreds of times F.conv2d) when even the faster of two fresh calls is
    # over three times the limit: that decides. Anything else gets SPEED_REPEATS fresh calls in all.
    # (The seeded first call is never timed: it pays one-off costs and its inputs are public.)
    timed_call()
    ratio = timed_call()
    if ratio <= 3 * SPEED_LIMIT:
        for _repeat in range(SPEED_REPEATS - 2):
            ratio = timed_call()
    measured = _("the fastest of {count} calls on fresh inputs").format(count=len(learner_seconds))
    if ratio > SPEED_LIMIT:
        raise CheckFailed(
            _("{call} took {ratio}x as long as PyTorch's F.conv2d ({measured}, against the fastest of a NumPy reference timed beside them); the limit is {limit}x.").format(
                call=call, ratio=f"{ratio:.0f}", measured=measured, limit=f"{SPEED_LIMIT:g}"
            )
            + with_hint(SLOW_HINT)
        )


# ==== HIDDEN CHECKS: instructor only; the student release ends this module above this line ====
# Official grading (autograder.classroom.official) adds these to the public checks; their
# oracles live in oracle_data/hidden/, which the student release leaves out too.


def hidden_large_case() -> tuple[np.ndarray, ...]:
    """(x (2, 3, 16, 15), w (4, 3, 5, 3), b (4,)) for stride (2, 3) and padding (2, 1)."""
    return _conv_case(np.random.default_rng(291), 2, 3, 16, 15, 4, 5, 3)


HIDDEN_STRIDE, HIDDEN_PADDING = (2, 3), (2, 1)


def build_hidden_oracles() -> dict[str, np.ndarray]:
    """F.conv2d's answer (float64) for the hidden case."""
    import torch
    import torch.nn.functional as F

    x, w, b = (torch.from_numpy(a) for a in hidden_large_case())
    return {"conv2d_forward.hidden_large": F.conv2d(x, w, b, stride=HIDDEN_STRIDE, padding=HIDDEN_PADDING).numpy()}


@check("02.conv2d_forward.hidden_large", N_("conv2d_forward on a larger batch with unequal strides and padding"), points=1, hidden=True)
def test_conv2d_forward_hidden_large(learner: Learner) -> None:
    x, w, b = hidden_large_case()
    kwargs = {"stride": HIDDEN_STRIDE, "padding": HIDDEN_PADDING}
    assert_matches(
        learner.call_with_standins("conv2d_forward", STANDIN_HELPERS, x, w, b, **kwargs),
        _expected("conv2d_forward.hidden_large"),
        call=describe_call("conv2d_forward", x, w, b, **kwargs),
        shape_hints=_conv_shape_hints(x, w, HIDDEN_STRIDE, HIDDEN_PADDING),
    )
