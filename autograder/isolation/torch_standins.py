"""Stand-ins for 05's layers that the sandboxed child runs itself, with ``torch.nn.functional``.

In 05 the learner may use torch anyway, so these give nothing away, and running them in the
child spares shipping every activation to the grading process and back. The layers they stand
in for are graded in 02-04, whose sandboxes have neither torch nor this module.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from autograder.i18n import _


def _tensor(x: Any) -> torch.Tensor:
    if not isinstance(x, np.ndarray):
        raise TypeError(_("expected a NumPy array, got {kind}").format(kind=type(x).__name__))
    return torch.from_numpy(np.ascontiguousarray(x))


def conv2d_forward(x: Any, w: Any, b: Any, stride: Any = 1, padding: Any = 0) -> np.ndarray:
    """F.conv2d on x (N, C, H, W), w (O, C, kh, kw), b (O,) -> (N, O, H', W')."""
    with torch.no_grad():
        return F.conv2d(_tensor(x), _tensor(w), _tensor(b), stride=stride, padding=padding).numpy()


def maxpool2d_forward(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> np.ndarray:
    """F.max_pool2d on x (N, C, H, W) -> (N, C, H', W')."""
    with torch.no_grad():
        return F.max_pool2d(_tensor(x), kernel_size, stride=stride, padding=padding).numpy()


def relu_forward(x: Any) -> np.ndarray:
    """F.relu, any shape."""
    with torch.no_grad():
        return F.relu(_tensor(x)).numpy()


def linear_forward(x: Any, w: Any, b: Any) -> np.ndarray:
    """F.linear on x (N, in), w (out, in), b (out,) -> (N, out)."""
    with torch.no_grad():
        return F.linear(_tensor(x), _tensor(w), _tensor(b)).numpy()


TORCH_STANDINS: dict[str, Callable[..., Any]] = {f.__name__: f for f in (conv2d_forward, maxpool2d_forward, relu_forward, linear_forward)}
