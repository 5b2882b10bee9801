"""Checks for 04-backprop: backward passes of ReLU, linear, softmax cross-entropy, pooling,
convolution and dropout, and a numeric gradient.

Every case's inputs are regenerated from a seeded ``np.random.default_rng``; the expected
gradients come from ``torch.autograd`` in float64 (:func:`build_oracles`). Dropout is random, so
its checks test properties (scaling, mask values, the dropped fraction, determinism per seed)
instead of values.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from autograder.checks.padding_stride import Pair, as_pair, assert_raises_value_error, output_size
from autograder.checks.pooling import pool_kwargs
from autograder.compare import DEFAULT_TOLERANCE, assert_matches, describe_call, matching_hint
from autograder.i18n import N_, _
from autograder.learner import PROBE_FUNCTIONS, Learner, Probe, SeededRng
from autograder.oracles import oracle
from autograder.registry import CheckFailed, check

ASSIGNMENT = "04-backprop"
NUMERIC_GRADIENT_TOLERANCE = 1e-6

# (seed, shape) of ReLU inputs; a fifth of the entries are exactly 0.
RELU_CASES: tuple[tuple[int, tuple[int, ...]], ...] = ((401, (4, 3, 5, 6)), (402, (7, 11)), (403, (1, 1, 3, 3)))
# (seed, N, in, out)
LINEAR_CASES: tuple[tuple[int, int, int, int], ...] = ((411, 4, 7, 3), (412, 1, 5, 2), (413, 6, 3, 8))
# (seed, N, classes, scale); scale 1e4 makes exp overflow unless the row maximum is subtracted.
SOFTMAX_CASES: tuple[tuple[int, int, int, float], ...] = ((421, 5, 4, 1.0), (422, 1, 10, 3.0), (423, 8, 3, 0.5))
HUGE_SOFTMAX_CASES: tuple[tuple[int, int, int, float], ...] = ((424, 4, 6, 1e4), (425, 3, 5, 3e4))
# (seed, N, C, H, W, kernel_size, stride, padding)
POOL_CASES: tuple[tuple[int, int, int, int, int, Pair, Pair | None, Pair], ...] = (
    (431, 1, 1, 6, 6, 2, None, 0),
    (432, 4, 3, 7, 9, (3, 2), (2, 1), (1, 0)),
    (433, 2, 3, 9, 8, 3, 2, 1),
    (434, 1, 3, 10, 11, (2, 3), 3, (1, 1)),
    (435, 3, 1, 5, 7, 3, (3, 2), (1, 1)),
)
# (seed, N, C, H, W, O, kh, kw, stride, padding)
CONV_STRIDE1_CASES: tuple[tuple[int, int, int, int, int, int, int, int, Pair, Pair], ...] = (
    (441, 1, 1, 5, 5, 1, 3, 3, 1, 0),
    (442, 4, 3, 7, 9, 2, 3, 2, 1, 0),
    (443, 2, 3, 6, 5, 4, 1, 4, 1, 0),
)
CONV_STRIDE_PADDING_CASES: tuple[tuple[int, int, int, int, int, int, int, int, Pair, Pair], ...] = (
    (451, 1, 1, 7, 7, 2, 3, 3, 2, 1),
    (452, 4, 3, 9, 8, 2, 3, 2, (2, 3), (1, 0)),
    (453, 2, 3, 11, 11, 3, 5, 3, 3, (2, 1)),
    (454, 3, 1, 8, 6, 2, 2, 2, 2, (0, 1)),
    (455, 1, 3, 6, 7, 4, 3, 3, 1, (1, 2)),
)
# (seed, p, shape): large inputs, so the dropped fraction is close to p.
DROPOUT_CASES: tuple[tuple[int, float, tuple[int, ...]], ...] = ((461, 0.2, (200, 500)), (462, 0.5, (40, 50, 50)), (463, 0.75, (100000,)))
DROPPED_FRACTION_TOLERANCE = 0.01
# (seed, probe, shape)
NUMERIC_GRADIENT_CASES: tuple[tuple[int, str, tuple[int, ...]], ...] = (
    (471, "weighted_cubic", (2, 3, 4)),
    (472, "coupled_tanh", (3, 5)),
    (473, "softplus_sum", (6,)),
)


class _Shown:
    """An argument shown in messages as the code that made it, e.g. ``np.random.default_rng(7)``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


# ---------------------------------------------------------------------------------------------
# Inputs: one function per layer, shared by build_oracles and the checks.


def relu_inputs(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x.reshape(-1)[::5] = 0.0
    return x, rng.standard_normal(shape)


def linear_inputs(seed: int, n: int, n_in: int, n_out: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out), rng.standard_normal((n, n_out))


def softmax_inputs(seed: int, n: int, classes: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, classes)) * scale
    return logits, rng.integers(0, classes, size=n)


def pool_inputs(seed: int, n: int, c: int, h: int, w: int, kernel_size: Pair, stride: Pair | None, padding: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Distinct input values (no ties in any window) and an upstream gradient."""
    rng = np.random.default_rng(seed)
    x = (rng.permutation(n * c * h * w).reshape(n, c, h, w) + 0.5) / (n * c * h * w) * 4.0 - 2.0
    kh, kw = as_pair(kernel_size)
    sh, sw = as_pair(kernel_size if stride is None else stride)
    ph, pw = as_pair(padding)
    dout = rng.standard_normal((n, c, output_size(h, kh, ph, sh), output_size(w, kw, pw, sw)))
    return x, dout


def conv_inputs(seed: int, n: int, c: int, h: int, w: int, o: int, kh: int, kw: int, stride: Pair, padding: Pair) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((o, c, kh, kw))
    bias = rng.standard_normal(o)
    sh, sw = as_pair(stride)
    ph, pw = as_pair(padding)
    dout = rng.standard_normal((n, o, output_size(h, kh, ph, sh), output_size(w, kw, pw, sw)))
    return x, weight, bias, dout


def numeric_gradient_input(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape)


# ---------------------------------------------------------------------------------------------
# Oracles


def build_oracles() -> dict[str, np.ndarray]:
    """PyTorch's answers (float64, autograd) for every case, plus the wrong answers of classic
    mistakes that need PyTorch to compute."""
    import torch
    import torch.nn.functional as F

    def tensor(a: np.ndarray, grad: bool = False) -> "torch.Tensor":
        return torch.tensor(a, dtype=torch.float64, requires_grad=grad)

    def numpy(t: "torch.Tensor") -> np.ndarray:
        return t.detach().numpy().copy()

    out: dict[str, np.ndarray] = {}
    for seed, shape in RELU_CASES:
        x, dout = relu_inputs(seed, shape)
        xt = tensor(x, True)
        y = F.relu(xt)
        y.backward(tensor(dout))
        out[f"relu.{seed}.out"], out[f"relu.{seed}.dx"] = numpy(y), numpy(xt.grad)

    for seed, n, n_in, n_out in LINEAR_CASES:
        x, w, b, dout = linear_inputs(seed, n, n_in, n_out)
        xt, wt, bt = tensor(x, True), tensor(w, True), tensor(b, True)
        y = F.linear(xt, wt, bt)
        y.backward(tensor(dout))
        out[f"linear.{seed}.out"] = numpy(y)
        out[f"linear.{seed}.dx"], out[f"linear.{seed}.dw"], out[f"linear.{seed}.db"] = numpy(xt.grad), numpy(wt.grad), numpy(bt.grad)

    for seed, n, classes, scale in SOFTMAX_CASES + HUGE_SOFTMAX_CASES:
        logits, y = softmax_inputs(seed, n, classes, scale)
        lt = tensor(logits, True)
        loss = F.cross_entropy(lt, torch.tensor(y, dtype=torch.int64))
        loss.backward()
        out[f"softmax.{seed}.loss"], out[f"softmax.{seed}.dlogits"] = numpy(loss), numpy(lt.grad)

    for case in POOL_CASES:
        seed, __, __, h, w, kernel_size, stride, padding = case
        x, dout = pool_inputs(*case)
        stride_ = kernel_size if stride is None else stride
        xt = tensor(x, True)
        F.max_pool2d(xt, kernel_size, stride_, padding).backward(tensor(dout))
        out[f"maxpool.{seed}.dx"] = numpy(xt.grad)
        xt = tensor(x, True)
        F.avg_pool2d(xt, kernel_size, stride_, padding, count_include_pad=True).backward(tensor(dout))
        out[f"avgpool.{seed}.dx"] = numpy(xt.grad)
        kh, kw = as_pair(kernel_size)
        # Wrong answers: every element of a window gets the whole gradient (max pooling);
        # divided by the real elements only (count_include_pad=False); padding cropped from
        # the wrong side.
        out[f"maxpool.{seed}.wrong_all"] = numpy(xt.grad) * (kh * kw)
        xt = tensor(x, True)
        F.avg_pool2d(xt, kernel_size, stride_, padding, count_include_pad=False).backward(tensor(dout))
        out[f"avgpool.{seed}.wrong_exclude_pad"] = numpy(xt.grad)
        ph, pw = as_pair(padding)
        padded = tensor(np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))), True)
        F.avg_pool2d(padded, kernel_size, stride_).backward(tensor(dout))
        out[f"avgpool.{seed}.wrong_crop"] = numpy(padded.grad)[:, :, :h, :w]

    for case in CONV_STRIDE1_CASES + CONV_STRIDE_PADDING_CASES:
        seed, *__, stride, padding = case
        x, w, b, dout = conv_inputs(*case)
        xt, wt, bt = tensor(x, True), tensor(w, True), tensor(b, True)
        F.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(tensor(dout))
        out[f"conv.{seed}.dx"], out[f"conv.{seed}.dw"], out[f"conv.{seed}.db"] = numpy(xt.grad), numpy(wt.grad), numpy(bt.grad)
        # Wrong answer: dx from a correlation with the kernel as it is (not rotated), which is
        # the true dx of a convolution whose kernel is rotated.
        xt = tensor(x, True)
        F.conv2d(xt, tensor(w[:, :, ::-1, ::-1].copy()), bt.detach(), stride=stride, padding=padding).backward(tensor(dout))
        out[f"conv.{seed}.wrong_dx_unrotated"] = numpy(xt.grad)

    for seed, probe, shape in NUMERIC_GRADIENT_CASES:
        xt = tensor(numeric_gradient_input(seed, shape), True)
        _torch_probe(probe, xt).backward()
        out[f"numeric_gradient.{seed}.grad"] = numpy(xt.grad)
    return out


def _torch_probe(name: str, x: Any) -> Any:
    """The probe functions of :data:`autograder.learner.PROBE_FUNCTIONS`, in torch."""
    import torch

    if name == "weighted_cubic":
        weights = torch.tensor(np.linspace(-1.0, 2.0, x.numel()).reshape(tuple(x.shape)), dtype=torch.float64)
        return torch.sum(weights * x**3) + torch.sum(torch.sin(x))
    if name == "softplus_sum":
        return torch.sum(torch.log1p(torch.exp(x)))
    if name == "coupled_tanh":
        flat = x.reshape(-1)
        return 0.5 * torch.sum(flat) ** 2 + torch.sum(torch.tanh(flat[:-1] * flat[1:]))
    raise ValueError(f"unknown probe {name!r}")


def _oracle(key: str) -> np.ndarray:
    return oracle(ASSIGNMENT, key)


def _unpack(result: Any, names: Sequence[str], call: str) -> tuple[Any, ...]:
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        if isinstance(result, (tuple, list)):
            got = _("a {type} of length {length}").format(type=type(result).__name__, length=len(result))
        else:
            got = _("a {type}").format(type=type(result).__name__)
        raise CheckFailed(_("{call}: must return a tuple ({names}), got {got}.").format(call=call, names=", ".join(names), got=got))
    return tuple(result)


def _finite(value: Any) -> bool:
    array = np.asarray(value)
    return not np.issubdtype(array.dtype, np.number) or bool(np.all(np.isfinite(array)))


def _reject_non_finite(value: Any, call: str, what: str, hint: str) -> None:
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.number) and not np.all(np.isfinite(array)):
        bad = "nan" if np.any(np.isnan(array)) else "inf"
        raise CheckFailed(_("{call}: {what} contains {bad}. Hint: {hint}").format(call=call, what=what, bad=bad, hint=_(hint)))


# ---------------------------------------------------------------------------------------------
# ReLU

RELU_AT_ZERO_HINT = N_("the gradient at exactly x = 0 must be 0 (use x > 0, not x >= 0), as in PyTorch.")


@check("04.relu_forward.values", N_("relu_forward matches torch.relu"), points=1)
def test_relu_forward_values(learner: Learner) -> None:
    for seed, shape in RELU_CASES:
        x, __ = relu_inputs(seed, shape)
        call = describe_call("relu_forward", x)
        assert_matches(learner.call("relu_forward", x), _oracle(f"relu.{seed}.out"), call=call)


@check("04.relu_backward.zero_input", N_("relu_backward matches autograd, also at x = 0"), points=2)
def test_relu_backward_zero_input(learner: Learner) -> None:
    for seed, shape in RELU_CASES:
        x, dout = relu_inputs(seed, shape)
        call = describe_call("relu_backward", dout, x)
        hints = [(_(RELU_AT_ZERO_HINT), dout * (x >= 0)), (_("relu_backward returns dout times the local gradient, not the local gradient alone."), (x > 0) * 1.0)]
        assert_matches(learner.call("relu_backward", dout, x), _oracle(f"relu.{seed}.dx"), call=call, what="dx", hints=hints)


# ---------------------------------------------------------------------------------------------
# Linear


@check("04.linear_forward.values", N_("linear_forward matches torch.nn.functional.linear"), points=1)
def test_linear_forward_values(learner: Learner) -> None:
    for seed, n, n_in, n_out in LINEAR_CASES:
        x, w, b, __ = linear_inputs(seed, n, n_in, n_out)
        call = describe_call("linear_forward", x, w, b)
        assert_matches(learner.call("linear_forward", x, w, b), _oracle(f"linear.{seed}.out"), call=call,
                       shape_hints=[((n, n_in), _("w has shape (out, in); compute x @ w.T + b."))])


@check("04.linear_backward.gradients", N_("linear_backward gives autograd's dx, dw and db"), points=2)
def test_linear_backward_gradients(learner: Learner) -> None:
    for seed, n, n_in, n_out in LINEAR_CASES:
        x, w, __, dout = linear_inputs(seed, n, n_in, n_out)
        call = describe_call("linear_backward", dout, x, w)
        dx, dw, db = _unpack(learner.call("linear_backward", dout, x, w), ("dx", "dw", "db"), call)
        assert_matches(dx, _oracle(f"linear.{seed}.dx"), call=call, what="dx",
                       shape_hints=[((n_in, n), _("dx has the shape of x, (N, in): dx = dout @ w, not its transpose."))])
        assert_matches(dw, _oracle(f"linear.{seed}.dw"), call=call, what="dw",
                       shape_hints=[((n_in, n_out), _("dw is transposed: it has the shape of w, (out, in): dw = dout.T @ x."))])
        assert_matches(db, _oracle(f"linear.{seed}.db"), call=call, what="db",
                       shape_hints=[((n, n_out), _("db must be summed over the batch: db = dout.sum(axis=0)."))],
                       hints=[(_("db must be summed over the batch, not averaged: every example adds its own gradient."), dout.mean(axis=0))])


# ---------------------------------------------------------------------------------------------
# Softmax cross-entropy

OVERFLOW_HINT = N_("exp overflowed: subtract each row's maximum logit before exponentiating (softmax does not change when a row is shifted).")
LOG_OF_ZERO_HINT = N_("a probability underflowed to 0 and log(0) is -inf: take the log-softmax directly, "
                      "shifted - log(sum(exp(shifted))) (log-sum-exp), instead of log(p).")


def _check_softmax_case(learner: Learner, seed: int, n: int, classes: int, scale: float) -> None:
    logits, y = softmax_inputs(seed, n, classes, scale)
    call = describe_call("softmax_cross_entropy", logits, y)
    loss, dlogits = _unpack(learner.call("softmax_cross_entropy", logits, y), ("loss", "dlogits"), call)
    if not (_finite(loss) and _finite(dlogits)):
        # Softmax ignores a shift of each row: if logits already shifted to a maximum of 0 come
        # out finite, exp overflowed; if not, a probability underflowed to 0 inside log.
        shifted = logits - logits.max(axis=1, keepdims=True)
        shifted_loss = _unpack(learner.call("softmax_cross_entropy", shifted, y), ("loss", "dlogits"), call)[0]
        hint = OVERFLOW_HINT if _finite(shifted_loss) else LOG_OF_ZERO_HINT
        _reject_non_finite(loss, call, _("the loss"), hint)
        _reject_non_finite(dlogits, call, "dlogits", hint)
    expected_loss = _oracle(f"softmax.{seed}.loss")
    assert_matches(loss, expected_loss, call=call, what=_("the loss"),
                   hints=[(_("return the mean loss over the batch, not the sum."), expected_loss * n)])
    expected = _oracle(f"softmax.{seed}.dlogits")
    assert_matches(dlogits, expected, call=call, what="dlogits",
                   hints=[(_("the loss is a mean over N examples, so dlogits = (softmax - one_hot) / N."), expected * n)])


@check("04.softmax_cross_entropy.values", N_("softmax_cross_entropy gives torch's mean loss and its gradient"), points=2)
def test_softmax_cross_entropy_values(learner: Learner) -> None:
    for case in SOFTMAX_CASES:
        _check_softmax_case(learner, *case)


@check("04.softmax_cross_entropy.huge_logits", N_("softmax_cross_entropy stays finite for logits of 1e4"), points=1)
def test_softmax_cross_entropy_huge_logits(learner: Learner) -> None:
    for case in HUGE_SOFTMAX_CASES:
        _check_softmax_case(learner, *case)


# ---------------------------------------------------------------------------------------------
# Pooling


OVERLAP_HINT = N_("windows overlap: a position that is the maximum of several windows gets the sum of their gradients (dx[...] += ..., not =).")


def _times_chosen(x: np.ndarray, kernel_size: Pair, stride: Pair | None, padding: Pair) -> np.ndarray:
    """How many pooling windows pick each position of ``x`` as their maximum, (N, C, H, W)."""
    from numpy.lib.stride_tricks import sliding_window_view

    (kh, kw), (sh, sw), (ph, pw) = as_pair(kernel_size), as_pair(kernel_size if stride is None else stride), as_pair(padding)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    windows = sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    n, c, ho, wo = windows.shape[:4]
    best = windows.reshape(n, c, ho, wo, kh * kw).argmax(axis=-1)
    rows = np.arange(ho)[:, None] * sh + best // kw
    cols = np.arange(wo)[None, :] * sw + best % kw
    counts = np.zeros(padded.shape)
    np.add.at(counts, (np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols), 1)
    return counts[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]


@check("04.maxpool2d_backward.gradients", N_("maxpool2d_backward matches autograd (stride, padding, overlaps)"), points=2)
def test_maxpool2d_backward_gradients(learner: Learner) -> None:
    for case in POOL_CASES:
        seed, __, __, __, __, kernel_size, stride, padding = case
        x, dout = pool_inputs(*case)
        kwargs = pool_kwargs(stride, padding)
        call = describe_call("maxpool2d_backward", dout, x, kernel_size, **kwargs)
        hints = [(_("each window sends its gradient only to the position of its maximum, not to every element."), _oracle(f"maxpool.{seed}.wrong_all"))]
        expected = _oracle(f"maxpool.{seed}.dx")
        got = learner.call("maxpool2d_backward", dout, x, kernel_size, **kwargs)
        try:
            assert_matches(got, expected, call=call, what="dx", hints=hints)
        except CheckFailed as failure:
            # The overlap hint only where no other hint explains the result.
            if _only_overlaps_differ(got, expected, _times_chosen(x, kernel_size, stride, padding)) and matching_hint(got, hints, DEFAULT_TOLERANCE) is None:
                raise CheckFailed(_("{failure} Hint: {hint}").format(failure=failure, hint=_(OVERLAP_HINT))) from None
            raise


def _only_overlaps_differ(got: Any, expected: np.ndarray, chosen: np.ndarray) -> bool:
    """Whether ``got`` is right wherever at most one window picked the position: what assigning
    instead of adding the gradients of overlapping windows gives."""
    if not isinstance(got, np.ndarray) or got.shape != expected.shape or not np.issubdtype(got.dtype, np.number):
        return False
    wrong = ~np.isclose(got, expected, rtol=0, atol=1e-8)
    return bool(wrong.any()) and bool(np.all(chosen[wrong] >= 2))


@check("04.avgpool2d_backward.gradients", N_("avgpool2d_backward matches autograd (count_include_pad=True)"), points=2)
def test_avgpool2d_backward_gradients(learner: Learner) -> None:
    for case in POOL_CASES:
        seed, n, c, h, w, kernel_size, stride, padding = case
        __, dout = pool_inputs(*case)
        kwargs = pool_kwargs(stride, padding)
        call = describe_call("avgpool2d_backward", dout, (n, c, h, w), kernel_size, **kwargs)
        expected = _oracle(f"avgpool.{seed}.dx")
        kh, kw = as_pair(kernel_size)
        hints = [
            (_("divide each window's gradient by the window size kh * kw = {size}: the forward averaged that many values.").format(size=kh * kw), expected * (kh * kw)),
            (_("remove the padding from both sides: the padded gradient has padding rows above and columns to the left too, so crop [ph:ph + H, pw:pw + W]."),
             _oracle(f"avgpool.{seed}.wrong_crop")),
            (_("padding counts as zeros that were averaged (count_include_pad=True): divide by kh * kw in every window, also at the border."),
             _oracle(f"avgpool.{seed}.wrong_exclude_pad")),
        ]
        assert_matches(learner.call("avgpool2d_backward", dout, (n, c, h, w), kernel_size, **kwargs), expected, call=call, what="dx", hints=hints)


# ---------------------------------------------------------------------------------------------
# Convolution

UNROTATED_HINT = N_("dx is a full convolution of dout with the kernel: correlate the zero-padded dout with the kernel rotated by 180°, w[:, :, ::-1, ::-1].")


def _check_conv_case(learner: Learner, case: tuple[Any, ...]) -> None:
    seed, n, c, __, __, o, kh, kw, stride, padding = case
    x, w, b, dout = conv_inputs(*case)
    kwargs = pool_kwargs(None if stride == 1 else stride, padding)
    call = describe_call("conv2d_backward", dout, x, w, b, **kwargs)
    dx, dw, db = _unpack(learner.call("conv2d_backward", dout, x, w, b, **kwargs), ("dx", "dw", "db"), call)
    assert_matches(dx, _oracle(f"conv.{seed}.dx"), call=call, what="dx", hints=[(_(UNROTATED_HINT), _oracle(f"conv.{seed}.wrong_dx_unrotated"))])
    expected_dw = _oracle(f"conv.{seed}.dw")
    assert_matches(dw, expected_dw, call=call, what="dw",
                   shape_hints=[((c, o, kh, kw), _("dw is transposed: it has the shape of w, (O, C, kh, kw)."))],
                   hints=[(_("dw is a correlation of x with dout (no rotation); yours is rotated by 180°."), expected_dw[:, :, ::-1, ::-1])])
    assert_matches(db, _oracle(f"conv.{seed}.db"), call=call, what="db",
                   shape_hints=[((n, o), _("db must be summed over the batch too: dout.sum(axis=(0, 2, 3))."))],
                   hints=[(_("db must be summed over the batch, not averaged."), dout.sum(axis=(2, 3)).mean(axis=0))])


@check("04.conv2d_backward.stride1", N_("conv2d_backward matches autograd with stride 1"), points=3)
def test_conv2d_backward_stride1(learner: Learner) -> None:
    for case in CONV_STRIDE1_CASES:
        _check_conv_case(learner, case)


@check("04.conv2d_backward.stride_padding", N_("conv2d_backward matches autograd with strides 2 and 3 and padding pairs"), points=3)
def test_conv2d_backward_stride_padding(learner: Learner) -> None:
    for case in CONV_STRIDE_PADDING_CASES:
        _check_conv_case(learner, case)


# ---------------------------------------------------------------------------------------------
# Dropout (random: properties, not values)

NOT_RESCALED_HINT = N_("inverted dropout scales the kept units by 1 / (1 - p), so the expected output equals x.")


def _dropout_input(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    # Away from 0, so out == 0 tells a dropped unit.
    x = np.random.default_rng(seed + 1000).uniform(0.5, 1.5, size=shape)
    return x * np.where(np.arange(x.size).reshape(shape) % 2 == 0, 1.0, -1.0)


def _dropout(learner: Learner, x: np.ndarray, p: float, train: bool, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    call = describe_call("dropout_forward", x, p, train, _Shown(f"np.random.default_rng({seed})"))
    out, mask = _unpack(learner.call("dropout_forward", x, p, train, SeededRng(seed)), ("out", "mask"), call)
    for what, value in (("out", out), ("mask", mask)):
        if not isinstance(value, np.ndarray) or value.shape != x.shape:
            shape = getattr(value, "shape", None)
            if shape is None:
                message = _("{call}: {what} must be an array of x's shape {want}, got {type}.")
            else:
                message = _("{call}: {what} must be an array of x's shape {want}, got {type} of shape {shape}.")
            raise CheckFailed(message.format(call=call, what=what, want=x.shape, type=type(value).__name__, shape=shape))
    return out, mask, call


@check("04.dropout_forward.train", N_("dropout_forward drops a fraction p and rescales by 1/(1-p), reproducibly"), points=2)
def test_dropout_forward_train(learner: Learner) -> None:
    for seed, p, shape in DROPOUT_CASES:
        x = _dropout_input(seed, shape)
        out, mask, call = _dropout(learner, x, p, True, seed)
        scale = 1.0 / (1.0 - p)
        values = np.unique(mask)
        if np.all(np.isin(values, (0.0, 1.0))):
            if np.allclose(out, x * mask * scale, rtol=1e-12, atol=0.0):
                raise CheckFailed(_("{call}: mask holds only 0 and 1; return the scaled mask (0 or 1/(1-p) = {scale:.6g}) so that out == x * mask "
                                    "and dropout_backward is dout * mask.").format(call=call, scale=scale))
            raise CheckFailed(_("{call}: mask holds only 0 and 1; expected 0 and 1/(1-p) = {scale:.6g}. Hint: {hint}").format(call=call, scale=scale, hint=_(NOT_RESCALED_HINT)))
        if not np.all(np.isclose(values, 0.0, atol=1e-12) | np.isclose(values, scale, rtol=1e-12)):
            raise CheckFailed(_("{call}: mask holds values {values}...; expected only 0 (dropped) and 1/(1-p) = {scale:.6g} (kept).").format(
                call=call, values=values[:5].tolist(), scale=scale))
        assert_matches(out, x * mask, call=call, what=_("out (compared with x * mask)"),
                       hints=[(_(NOT_RESCALED_HINT), x * (mask != 0))])
        dropped = float(np.mean(mask == 0))
        if abs(dropped - p) > DROPPED_FRACTION_TOLERANCE:
            if abs(dropped - (1 - p)) <= DROPPED_FRACTION_TOLERANCE:
                message = _("{call}: dropped {dropped:.4f} of {size} units, expected about p = {p} (± {tolerance}). "
                            "Hint: p is the probability of dropping a unit, not of keeping it.")
            else:
                message = _("{call}: dropped {dropped:.4f} of {size} units, expected about p = {p} (± {tolerance}).")
            raise CheckFailed(message.format(call=call, dropped=dropped, size=x.size, p=p, tolerance=DROPPED_FRACTION_TOLERANCE))
        again, again_mask, __ = _dropout(learner, x, p, True, seed)
        if not (np.array_equal(again, out) and np.array_equal(again_mask, mask)):
            raise CheckFailed(_("{call}: two calls with the same seed gave different results. "
                                "Hint: draw the random numbers from the rng argument (rng.random(x.shape)), never from np.random.").format(call=call))
        other, __, __ = _dropout(learner, x, p, True, seed + 1)
        if np.array_equal(other, out):
            raise CheckFailed(_("{call}: a different seed gave exactly the same mask. Hint: draw the random numbers from the rng argument.").format(call=call))


@check("04.dropout_forward.eval", N_("dropout_forward is the identity in eval mode and with p = 0"), points=1)
def test_dropout_forward_eval(learner: Learner) -> None:
    for seed, p, train in ((481, 0.5, False), (482, 0.9, False), (483, 0.0, True)):
        x = _dropout_input(seed, (3, 4, 5))
        out, mask, call = _dropout(learner, x, p, train, seed)
        assert_matches(out, x, call=call, what="out", tolerance=0.0,
                       hints=[(_("when not training dropout does nothing: no units dropped, no rescaling."), x / (1 - p))])
        assert_matches(mask, np.ones_like(x), call=call, what="mask", tolerance=0.0)


@check("04.dropout_forward.invalid_p", N_("dropout_forward raises ValueError for p outside [0, 1)"), points=1)
def test_dropout_forward_invalid_p(learner: Learner) -> None:
    x = _dropout_input(484, (2, 3))
    for p, why in ((1.0, _("p = 1 drops every unit and 1/(1-p) divides by zero")), (-0.1, _("a probability cannot be negative")), (1.5, _("a probability cannot exceed 1"))):
        assert_raises_value_error(learner, "dropout_forward", (x, p, True, SeededRng(485)), {}, why)


@check("04.dropout_backward.mask", N_("dropout_backward routes the gradient through the forward's mask"), points=1)
def test_dropout_backward_mask(learner: Learner) -> None:
    rng = np.random.default_rng(491)
    dout = rng.standard_normal((4, 3, 5))
    mask = (rng.random(dout.shape) >= 0.4) / 0.6
    call = describe_call("dropout_backward", dout, mask)
    assert_matches(learner.call("dropout_backward", dout, mask), dout * mask, call=call, what="dx",
                   hints=[(_("the mask already holds the 1/(1-p) scale: multiply by it once, dx = dout * mask."), dout * mask / 0.6)])


# ---------------------------------------------------------------------------------------------
# Numeric gradient


@check("04.numeric_gradient.probe", N_("numeric_gradient agrees with the analytic gradient to 1e-6"), points=2)
def test_numeric_gradient_probe(learner: Learner) -> None:
    for seed, probe, shape in NUMERIC_GRADIENT_CASES:
        x = numeric_gradient_input(seed, shape)
        call = describe_call("numeric_gradient", _Shown(probe), x)
        got = learner.call("numeric_gradient", Probe(probe), x)
        assert_matches(got, _oracle(f"numeric_gradient.{seed}.grad"), call=call, what=_("the gradient"), tolerance=NUMERIC_GRADIENT_TOLERANCE,
                       hints=[(_("use central differences (f(x + h) - f(x - h)) / (2h); one-sided differences are only accurate to O(h)."),
                               _forward_differences(probe, x)),
                              (_("put each entry back after nudging it: the later entries were measured at a shifted point."),
                               _unrestored_differences(probe, x))])


def _forward_differences(probe: str, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    f = PROBE_FUNCTIONS[probe]
    grad = np.zeros_like(x)
    base = f(x)
    for index in np.ndindex(x.shape):
        shifted = x.copy()
        shifted[index] += h
        grad[index] = (f(shifted) - base) / h
    return grad


def _unrestored_differences(probe: str, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences from a loop that never puts a nudged entry back: entry k (row-major)
    is measured with entries 0 .. k-1 left at x - h. (Written without that loop, so that the
    student release does not hand out numeric_gradient's code.)"""
    f = PROBE_FUNCTIONS[probe]
    flat = x.reshape(-1)
    result = np.empty_like(flat)
    for k in range(flat.size):
        lowered = np.concatenate([flat[:k] - h, flat[k:]])
        step = np.zeros_like(flat)
        step[k] = h
        result[k] = (f((lowered + step).reshape(x.shape)) - f((lowered - step).reshape(x.shape))) / (2 * h)
    return result.reshape(x.shape)



# ==== HIDDEN CHECKS: instructor only; the student release ends this module above this line ====
# Official grading (autograder.classroom.official) adds these to the public checks; their
# oracles live in oracle_data/hidden/, which the student release leaves out too.

HIDDEN_LINEAR_CASE = (491, 64, 20, 7)  # seed, N, in, out: a batch larger than the features


def build_hidden_oracles() -> dict[str, np.ndarray]:
    """Autograd's dx, dw and db (float64) for the hidden linear case."""
    import torch

    x, w, b, dout = (torch.from_numpy(a).requires_grad_() for a in linear_inputs(*HIDDEN_LINEAR_CASE))
    torch.nn.functional.linear(x, w, b).backward(dout.detach())
    return {f"linear.hidden.{name}": t.grad.numpy() for name, t in (("dx", x), ("dw", w), ("db", b))}


@check("04.linear_backward.hidden_batch", N_("linear_backward with a batch larger than the layer"), points=1, hidden=True)
def test_linear_backward_hidden_batch(learner: Learner) -> None:
    x, w, __, dout = linear_inputs(*HIDDEN_LINEAR_CASE)
    call = describe_call("linear_backward", dout, x, w)
    for name, got in zip(("dx", "dw", "db"), _unpack(learner.call("linear_backward", dout, x, w), ("dx", "dw", "db"), call)):
        assert_matches(got, _oracle(f"linear.hidden.{name}"), call=call, what=name)
