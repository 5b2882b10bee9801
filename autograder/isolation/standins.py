"""Trusted stand-ins for learner helpers, swapped in while *another* function is graded.

A check of ``conv2d_forward`` should not cost points for a broken ``pad2d``, and 05's
``lenet5_forward`` should not cost points for a broken 02 layer. So while such a call runs,
the learner's helpers are replaced by these functions. They are short NumPy formulations,
not the course's solutions (nothing here reads ``solutions/``), and they run in the grading
process only: inside the sandbox the learner's namespace holds proxies that ask the parent
for each result, and the parent answers only for the names the current call swaps in. A proxy
kept by learner code and called later (while the function it replaced is itself graded)
gets an error, never a result.

Every stand-in validates its arguments and refuses work far beyond what a check needs, since
its arguments come from learner code.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.i18n import _

MAX_ELEMENTS = 1 << 25  # per array argument
MAX_MULTIPLY_ADDS = 4 * 10**9  # per stand-in call


class StandInError(ValueError):
    """A stand-in was called with arguments it does not accept; the message says which."""


def _array(value: Any, name: str, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise StandInError(_("{name} must be a NumPy array of numbers, got {type}").format(name=name, type=type(value).__name__))
    if value.ndim != ndim:
        raise StandInError(_("{name} must have {ndim} dimensions, got shape {shape}").format(name=name, ndim=ndim, shape=value.shape))
    if value.size > MAX_ELEMENTS:
        raise StandInError(_("{name} has {size} elements, more than the {limit} a stand-in accepts").format(name=name, size=value.size, limit=MAX_ELEMENTS))
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise StandInError(_("{name} must be an int, got {value}").format(name=name, value=f"{value!r:.40}"))
    return int(value)


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise StandInError(_("{name} must be an int or a pair of ints, got {value}").format(name=name, value=f"{value!r:.40}"))
        return _int(value[0], name), _int(value[1], name)
    number = _int(value, name)
    return number, number


def _affordable(*factors: int) -> None:
    work = 1
    for factor in factors:
        work *= max(int(factor), 1)
    if work > MAX_MULTIPLY_ADDS:
        raise StandInError(_("a call needing {work} multiply-adds, far more than any check asks for").format(work=f"{work:.3g}"))


def _padded(x: np.ndarray, ph: int, pw: int, fill: float = 0.0) -> np.ndarray:
    if ph < 0 or pw < 0:
        raise StandInError(_("padding must be 0 or more, got ({ph}, {pw})").format(ph=ph, pw=pw))
    n, c, h, w = x.shape
    out = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, dtype=np.result_type(x, fill) if fill != 0.0 else x.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


def corr2d(x: Any, k: Any) -> np.ndarray:
    """Valid cross-correlation of x (H, W) with k (kh, kw) -> (H - kh + 1, W - kw + 1)."""
    x, k = _array(x, "x", 2), _array(k, "k", 2)
    if k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
        raise StandInError(_("kernel {kernel} larger than input {x}").format(kernel=k.shape, x=x.shape))
    _affordable(x.size, k.size)
    return np.einsum("ijab,ab->ij", sliding_window_view(x, k.shape), k).astype(np.result_type(x, k), copy=False)


def corr2d_multi_in(x: Any, k: Any) -> np.ndarray:
    """Cross-correlation of x (C, H, W) with k (C, kh, kw), summed over C -> (H', W')."""
    x, k = _array(x, "x", 3), _array(k, "k", 3)
    if x.shape[0] != k.shape[0] or k.shape[1] > x.shape[1] or k.shape[2] > x.shape[2]:
        raise StandInError(_("kernel {kernel} does not fit input {x}").format(kernel=k.shape, x=x.shape))
    _affordable(x.size, k.size)
    windows = sliding_window_view(x, k.shape[1:], axis=(1, 2))
    return np.einsum("cijab,cab->ij", windows, k).astype(np.result_type(x, k), copy=False)


def conv_output_size(n: Any, k: Any, padding: Any = 0, stride: Any = 1, dilation: Any = 1) -> int:
    """floor((n + 2 padding - dilation (k - 1) - 1) / stride) + 1, refusing impossible sizes."""
    n, k, padding, stride, dilation = (_int(v, name) for v, name in ((n, "n"), (k, "k"), (padding, "padding"), (stride, "stride"), (dilation, "dilation")))
    if min(k, stride, dilation) < 1 or padding < 0 or dilation * (k - 1) + 1 > n + 2 * padding:
        raise ValueError(_("no output for n={n}, k={k}, padding={padding}, stride={stride}, dilation={dilation}").format(n=n, k=k, padding=padding, stride=stride, dilation=dilation))
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def pad2d(x: Any, padding: Any) -> np.ndarray:
    """x (N, C, H, W) with zeros around H and W -> (N, C, H + 2 ph, W + 2 pw)."""
    return _padded(_array(x, "x", 4), *_pair(padding, "padding"))


def conv2d_forward(x: Any, w: Any, b: Any, stride: Any = 1, padding: Any = 0) -> np.ndarray:
    """Cross-correlation of x (N, C, H, W) with w (O, C, kh, kw) plus b (O,) -> (N, O, H', W')."""
    x, w, b = _array(x, "x", 4), _array(w, "w", 4), _array(b, "b", 1)
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    if sh < 1 or sw < 1 or w.shape[1] != x.shape[1] or b.shape[0] != w.shape[0]:
        raise StandInError(_("shapes x {x}, w {w}, b {b} with stride ({sh}, {sw}) do not make a convolution").format(x=x.shape, w=w.shape, b=b.shape, sh=sh, sw=sw))
    padded = _padded(x, ph, pw)
    if w.shape[2] > padded.shape[2] or w.shape[3] > padded.shape[3]:
        raise StandInError(_("kernel {kernel} larger than the padded input {padded}").format(kernel=f"{w.shape[2:]}", padded=f"{padded.shape[2:]}"))
    windows = sliding_window_view(padded, w.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]
    n, _channels, out_h, out_w = windows.shape[:4]
    _affordable(n, out_h, out_w, w.size)
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, -1)  # im2col
    out = (columns @ w.reshape(w.shape[0], -1).T).reshape(n, out_h, out_w, -1)
    return out.transpose(0, 3, 1, 2) + b.reshape(-1, 1, 1)


def maxpool2d_forward(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> np.ndarray:
    """Maximum of each window of x (N, C, H, W), padding as -inf -> (N, C, H', W')."""
    x = _array(x, "x", 4)
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(kernel_size if stride is None else stride, "stride")
    if min(kh, kw, sh, sw) < 1:
        raise StandInError(_("kernel_size and stride must be at least 1"))
    padded = _padded(x.astype(np.float64, copy=False) if x.dtype.kind != "f" else x, *_pair(padding, "padding"), fill=-np.inf)
    if kh > padded.shape[2] or kw > padded.shape[3]:
        raise StandInError(_("window ({kh}, {kw}) larger than the padded input {padded}").format(kh=kh, kw=kw, padded=f"{padded.shape[2:]}"))
    _affordable(padded.size, kh * kw)
    n, c, h, w = padded.shape
    if (sh, sw) == (kh, kw) and h % kh == 0 and w % kw == 0:  # tiling windows: one reshape
        return padded.reshape(n, c, h // kh, kh, w // kw, kw).max(axis=(3, 5))
    return sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw].max(axis=(-2, -1))


def relu_forward(x: Any) -> np.ndarray:
    """max(x, 0) elementwise."""
    if not isinstance(x, np.ndarray):
        raise StandInError(_("x must be a NumPy array, got {type}").format(type=type(x).__name__))
    return np.where(_array(x, "x", x.ndim) > 0, x, 0).astype(x.dtype, copy=False)


def linear_forward(x: Any, w: Any, b: Any) -> np.ndarray:
    """x (N, in) times w (out, in) transposed plus b (out,) -> (N, out)."""
    x, w, b = _array(x, "x", 2), _array(w, "w", 2), _array(b, "b", 1)
    if x.shape[1] != w.shape[1] or b.shape[0] != w.shape[0]:
        raise StandInError(_("shapes x {x}, w {w}, b {b} do not make a linear layer").format(x=x.shape, w=w.shape, b=b.shape))
    _affordable(x.shape[0], w.size)
    return np.einsum("ni,oi->no", x, w) + b


# Backward passes (04's layers, stand-ins while 06 trains a network built from them). Each is
# written as the transpose of the forward above (scatter where the forward gathers), not as the
# course's solution.


def relu_backward(dout: Any, x: Any) -> np.ndarray:
    """dout where x > 0, else 0 (0 also at x == 0, as PyTorch); dout and x of one shape."""
    x = _array(x, "x", x.ndim if isinstance(x, np.ndarray) else 0)
    dout = _array(dout, "dout", x.ndim)
    if dout.shape != x.shape:
        raise StandInError(_("dout {dout} and x {x} must have one shape").format(dout=dout.shape, x=x.shape))
    return np.where(x > 0, dout, np.zeros((), dtype=dout.dtype))


def linear_backward(dout: Any, x: Any, w: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout (N, out), x (N, in), w (out, in) -> (dx (N, in), dw (out, in), db (out,))."""
    dout, x, w = _array(dout, "dout", 2), _array(x, "x", 2), _array(w, "w", 2)
    if dout.shape != (x.shape[0], w.shape[0]) or x.shape[1] != w.shape[1]:
        raise StandInError(_("shapes dout {dout}, x {x}, w {w} do not make a linear layer").format(dout=dout.shape, x=x.shape, w=w.shape))
    _affordable(x.shape[0], w.size, 2)
    return np.tensordot(dout, w, axes=(1, 0)), np.tensordot(dout, x, axes=(0, 0)), np.einsum("no->o", dout)


def softmax_cross_entropy(logits: Any, y: Any) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits (N, K)) against labels y (N,) -> (loss, dlogits (N, K))."""
    logits, y = _array(logits, "logits", 2), _array(y, "y", 1)
    n, k = logits.shape
    if y.shape != (n,) or y.dtype.kind not in "iu" or n == 0 or (y.size and (y.min() < 0 or y.max() >= k)):
        raise StandInError(_("labels y {y} ({dtype}) must be N = {n} integers in 0..{last}").format(y=y.shape, dtype=y.dtype, n=n, last=k - 1))
    from scipy.special import log_softmax

    log_p = log_softmax(logits.astype(np.float64, copy=False), axis=1)
    one_hot = np.eye(k, dtype=np.float64)[y]
    return float(-np.einsum("nk,nk->", one_hot, log_p) / n), (np.exp(log_p) - one_hot) / n


def maxpool2d_backward(dout: Any, x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> np.ndarray:
    """dout (N, C, Ho, Wo) scattered onto the first maximum of each window of x (N, C, H, W) -> dx (N, C, H, W)."""
    x = _array(x, "x", 4)
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(kernel_size if stride is None else stride, "stride")
    ph, pw = _pair(padding, "padding")
    padded = _padded(x.astype(np.float64), ph, pw, fill=-np.inf)
    if min(kh, kw, sh, sw) < 1 or kh > padded.shape[2] or kw > padded.shape[3]:
        raise StandInError(_("window ({kh}, {kw}) with stride ({sh}, {sw}) does not fit the padded input {padded}").format(kh=kh, kw=kw, sh=sh, sw=sw, padded=f"{padded.shape[2:]}"))
    views = sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    dout = _array(dout, "dout", 4)
    if dout.shape != views.shape[:4]:
        raise StandInError(_("dout {dout} must have the pooled shape {want}").format(dout=dout.shape, want=f"{views.shape[:4]}"))
    _affordable(padded.size, kh * kw)
    first_max = views.reshape(*views.shape[:4], kh * kw).argmax(axis=-1)  # argmax: the first maximum, as PyTorch
    n, c, i, j = np.indices(dout.shape)
    grad = np.zeros(padded.shape, dtype=dout.dtype)
    np.add.at(grad, (n, c, i * sh + first_max // kw, j * sw + first_max % kw), dout)
    return grad[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


def conv2d_backward(dout: Any, x: Any, w: Any, b: Any, stride: Any = 1, padding: Any = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward`: dout (N, O, Ho, Wo) -> (dx, dw, db) shaped as x, w, b."""
    x, w, b = _array(x, "x", 4), _array(w, "w", 4), _array(b, "b", 1)
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    padded = _padded(x, ph, pw)
    if min(sh, sw) < 1 or w.shape[1] != x.shape[1] or b.shape[0] != w.shape[0] or w.shape[2] > padded.shape[2] or w.shape[3] > padded.shape[3]:
        raise StandInError(_("shapes x {x}, w {w}, b {b} with stride ({sh}, {sw}) do not make a convolution").format(x=x.shape, w=w.shape, b=b.shape, sh=sh, sw=sw))
    windows = sliding_window_view(padded, w.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]  # (N, C, Ho, Wo, kh, kw)
    dout = _array(dout, "dout", 4)
    if dout.shape != (x.shape[0], w.shape[0], *windows.shape[2:4]):
        raise StandInError(_("dout {dout} must have the convolution's output shape {want}").format(dout=dout.shape, want=f"{(x.shape[0], w.shape[0], *windows.shape[2:4])}"))
    _affordable(2, dout.size, w[0].size)
    dw = np.tensordot(dout, windows, axes=([0, 2, 3], [0, 2, 3]))  # (O, C, kh, kw)
    columns = np.tensordot(dout, w, axes=(1, 0))  # (N, Ho, Wo, C, kh, kw): each window's share
    dpadded = np.zeros(padded.shape, dtype=columns.dtype)
    ho, wo = dout.shape[2:]
    for di, dj in np.ndindex(*w.shape[2:]):  # col2im: every kernel offset adds its share back
        dpadded[:, :, di : di + sh * ho : sh, dj : dj + sw * wo : sw] += columns[..., di, dj].transpose(0, 3, 1, 2)
    return dpadded[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))


STANDINS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (corr2d, corr2d_multi_in, conv_output_size, pad2d, conv2d_forward, maxpool2d_forward, relu_forward, linear_forward,
              relu_backward, linear_backward, softmax_cross_entropy, maxpool2d_backward, conv2d_backward)
}


def standins_for(names: Sequence[str], graded: str) -> dict[str, Callable[..., Any]]:
    """The stand-ins for ``names``, never one for ``graded`` itself.

    Raises:
        ValueError: a name has no stand-in, or is the function being graded (a check's bug).
    """
    unknown = [n for n in names if n not in STANDINS]
    if unknown:
        raise ValueError(f"no stand-in for {', '.join(unknown)}; stand-ins exist for {', '.join(STANDINS)}")
    if graded in names:
        raise ValueError(f"{graded} cannot be swapped out while it is graded")
    return {n: STANDINS[n] for n in names}


def run_standin(name: str, allowed: Mapping[str, Callable[..., Any]], args: Any, kwargs: Any) -> dict[str, Any]:
    """Answer a stand-in request from the sandbox: ``{"status": "ok", "value": ...}`` or
    ``{"status": "error", "exception": "ValueError" | "TypeError", "message": ...}``."""
    function = allowed.get(name) if isinstance(name, str) else None
    if function is None:
        return {"status": "error", "exception": "RuntimeError", "message": _("the grader's stand-in for {name} is only available while a check swaps it in").format(name=f"{name!s:.40}")}
    if not isinstance(args, tuple) or not isinstance(kwargs, dict):
        return {"status": "error", "exception": "TypeError", "message": _("malformed stand-in arguments")}
    try:
        return {"status": "ok", "value": function(*args, **kwargs)}
    except TypeError as exc:
        return {"status": "error", "exception": "TypeError", "message": f"{name}: {exc}"}
    except (ValueError, MemoryError) as exc:
        return {"status": "error", "exception": "ValueError", "message": f"{name}: {exc}"}
