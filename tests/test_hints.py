"""The hint audit: a catalogue of typical learner mistakes across 01-05. Each is planted in a
copy of the solution; the check it must fail fails, its message carries the hint for that
mistake, and no hint in the message names a mistake that was not made. Every quoted line is
the learner's own. Graded in process, only the named check, so the catalogue stays cheap."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

from autograder.checks.backprop import LOG_OF_ZERO_HINT, OVERLAP_HINT
from autograder.checks.padding_stride import WINDOW_NOT_STRIDED
from autograder.checks.pooling import WRONG_AXES, _pool_shape_hints

from conftest import learner_from_notebook, run_checks, write_variant


class Mistake(NamedTuple):
    assignment: str
    replacements: dict[str, str]
    check: str
    hint: str | None  # text the message must contain; None: it fails without any hint
    changed: bool = False  # the hint (or the check) is new or fixed in issue 10


IN_PLACE = "changed its argument {} in place; work on a copy"
RENAMED = "did you rename it?"

CATALOGUE: dict[str, Mistake] = {
    # 01-convolution
    "corr2d scales its input in place": Mistake("01-convolution", {"    kh, kw = k.shape\n": "    kh, kw = k.shape\n    x *= 2\n", "np.sum(x[i:i + kh, j:j + kw] * k)": "np.sum(x[i:i + kh, j:j + kw] * k) / 2"}, "01.corr2d.random", IN_PLACE.format("x"), True),
    "corr2d forgets to return": Mistake("01-convolution", {"    return out\n": "    out\n"}, "01.corr2d.random", "returned nothing", True),
    "corr2d renamed": Mistake("01-convolution", {"def corr2d(x, k):": "def cor2d(x, k):"}, "01.corr2d.random", f"corr2d is not defined, but cor2d is: {RENAMED}", True),
    "corr2d flips the kernel": Mistake("01-convolution", {"np.sum(x[i:i + kh, j:j + kw] * k)": "np.sum(x[i:i + kh, j:j + kw] * k[::-1, ::-1])"}, "01.corr2d.random", "this is the true convolution"),
    "conv2d_flipped flips the columns only": Mistake("01-convolution", {"return corr2d(x, k[::-1, ::-1])": "return corr2d(x, k[:, ::-1])"}, "01.conv2d_flipped.random", "flipped along one axis only"),
    "corr2d_multi_in_out returns a list": Mistake("01-convolution", {"return np.stack([corr2d_multi_in(x, k_o) for k_o in k])": "return [corr2d_multi_in(x, k_o) for k_o in k]"}, "01.corr2d_multi_in_out.random", "is a list, expected a NumPy array"),
    "sobel with gy = gx": Mistake("01-convolution", {"gy = corr2d(img, gx_kernel.T)": "gy = corr2d(img, gx_kernel)"}, "01.sobel_magnitude.images", "the transpose of the horizontal one", True),
    "sobel |gx| + |gy|": Mistake("01-convolution", {"return np.sqrt(gx**2 + gy**2)": "return np.abs(gx) + np.abs(gy)"}, "01.sobel_magnitude.images", "this is |gx| + |gy|"),
    "sobel with gy only": Mistake("01-convolution", {"return np.sqrt(gx**2 + gy**2)": "return np.sqrt(gy**2)"}, "01.sobel_magnitude.images", "only the vertical gradient gy"),
    "sobel shifts the image in place": Mistake("01-convolution", {"    gx = corr2d(img, gx_kernel)": "    img -= img.min()\n    gx = corr2d(img, gx_kernel)"}, "01.sobel_magnitude.images", IN_PLACE.format("img"), True),
    # 02-padding-stride
    "output size without the + 1": Mistake("02-padding-stride", {"// stride + 1": "// stride"}, "02.conv_output_size.formula", "count the first position too"),
    "output size ignores dilation": Mistake("02-padding-stride", {"return (n + 2 * padding - dilation * (k - 1) - 1)": "return (n + 2 * padding - (k - 1) - 1)"}, "02.conv_output_size.formula", "the dilation was ignored"),
    "negative padding accepted": Mistake("02-padding-stride", {"if padding < 0:": "if False:"}, "02.conv_output_size.errors", "raise ValueError"),
    "loops never step by the stride": Mistake("02-padding-stride", {"xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]": "xp[n, :, i:i + kh, j:j + kw]"}, "02.conv2d_forward_loops.small", WINDOW_NOT_STRIDED, True),
    "loops forget the bias": Mistake("02-padding-stride", {"np.sum(window * w[o]) + b[o]": "np.sum(window * w[o])"}, "02.conv2d_forward_loops.small", None),
    "conv2d_forward ignores the padding": Mistake("02-padding-stride", {"xp = pad2d(x, padding)": "xp = x"}, "02.conv2d_forward.stride_padding", "this is the size without padding"),
    "conv2d_forward ignores the stride": Mistake("02-padding-stride", {"[:, :, ::sh, ::sw]": ""}, "02.conv2d_forward.stride_padding", "the stride was ignored"),
    "pad2d pads one side only": Mistake("02-padding-stride", {"(ph, ph), (pw, pw)": "(0, ph), (0, pw)"}, "02.pad2d.values", "one side only"),
    # 03-pooling
    "avgpool averages the wrong axes": Mistake("03-pooling", {"fill=0.0).sum(axis=(-2, -1))": "fill=0.0).sum(axis=(2, 3))"}, "03.avgpool2d_forward.basic", None, True),
    "avgpool (padded) averages the wrong axes": Mistake("03-pooling", {"fill=0.0).sum(axis=(-2, -1))": "fill=0.0).sum(axis=(2, 3))"}, "03.avgpool2d_forward.padding", None, True),
    "global_avgpool divides its input in place": Mistake("03-pooling", {"    return x.mean(axis=(2, 3))": "    x /= x.shape[2] * x.shape[3]\n    return x.sum(axis=(2, 3))"}, "03.global_avgpool.basic", IN_PLACE.format("x"), True),
    "global_avgpool takes the maximum": Mistake("03-pooling", {"return x.mean(axis=(2, 3))": "return x.max(axis=(2, 3))"}, "03.global_avgpool.basic", "this is the maximum of each channel"),
    "lppool sums absolute values": Mistake("03-pooling", {"np.sqrt((pool_windows(x, kernel_size, stride) ** 2).sum(axis=(-2, -1)))": "np.abs(pool_windows(x, kernel_size, stride)).sum(axis=(-2, -1))"}, "03.lppool2d_forward.basic", "|x|"),
    "maxpool pads with zeros": Mistake("03-pooling", {"fill=-np.inf": "fill=0.0"}, "03.maxpool2d_forward.padding", "pads with -inf"),
    "pool windows ignore the stride": Mistake("03-pooling", {"[:, :, ::sh, ::sw]": ""}, "03.maxpool2d_forward.basic", "stride=None means stride = kernel_size"),
    # 04-backprop
    "relu_forward zeroes its input in place": Mistake("04-backprop", {"    return np.maximum(x, 0)": "    x[x < 0] = 0\n    return x"}, "04.relu_forward.values", IN_PLACE.format("x"), True),
    "relu_backward returns the local gradient alone": Mistake("04-backprop", {"return dout * (x > 0)": "return (x > 0) * 1.0"}, "04.relu_backward.zero_input", "not the local gradient alone"),
    "linear_forward forgets the bias": Mistake("04-backprop", {"return x @ w.T + b": "return x @ w.T"}, "04.linear_forward.values", None),
    "linear db averaged": Mistake("04-backprop", {"db = dout.sum(axis=0)": "db = dout.mean(axis=0)"}, "04.linear_backward.gradients", "summed over the batch, not averaged"),
    "softmax keeps log(p) after shifting": Mistake("04-backprop", {"log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))": "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))"}, "04.softmax_cross_entropy.huge_logits", LOG_OF_ZERO_HINT, True),
    "softmax sums the loss": Mistake("04-backprop", {"loss = -log_probs[rows, y].mean()": "loss = -log_probs[rows, y].sum()"}, "04.softmax_cross_entropy.values", "mean loss over the batch, not the sum"),
    "maxpool backward assigns instead of adding": Mistake("04-backprop", {"grad_padded[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += dout * is_max[..., i * kw + j]": "view = grad_padded[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw]\n            view[...] = np.where(is_max[..., i * kw + j], dout, view)"}, "04.maxpool2d_backward.gradients", OVERLAP_HINT, True),
    "conv db averaged over the batch": Mistake("04-backprop", {"db = dout.sum(axis=(0, 2, 3))": "db = dout.sum(axis=(2, 3)).mean(axis=0)"}, "04.conv2d_backward.stride1", "summed over the batch, not averaged"),
    "dropout keeps with probability p": Mistake("04-backprop", {"keep = rng.random(x.shape) >= p": "keep = rng.random(x.shape) < p"}, "04.dropout_forward.train", "p is the probability of dropping a unit"),
    "dropout accepts p = 1": Mistake("04-backprop", {"if not 0 <= p < 1:": "if False:"}, "04.dropout_forward.invalid_p", "p = 1 drops every unit and 1/(1-p) divides by zero: raise ValueError", True),
    "dropout rescales in eval mode": Mistake("04-backprop", {"return x.copy(), np.ones_like(x)": "return x / (1 - p), np.ones_like(x)"}, "04.dropout_forward.eval", "when not training dropout does nothing"),
    # 05-architectures
    "linear count without biases": Mistake("05-architectures", {"return n_out * n_in + (n_out if bias else 0)": "return n_out * n_in"}, "05.count_linear_params.values", "add the biases: one per output"),
    "AlexNet count misses fc2": Mistake("05-architectures", {"linears = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]": "linears = [(256 * 6 * 6, 4096), (4096, 1000)]"}, "05.alexnet_param_count.total", "short by exactly the 16,781,312 parameters of fc2", True),
    "VGG-16 count misses a 512 convolution": Mistake("05-architectures", {"512, 512, 512, 512, 512, 512]": "512, 512, 512, 512, 512]"}, "05.vgg16_param_count.total", "parameters of conv9 (Conv2d(512, 512", True),
    "AlexNet without torchvision's layout": Mistake("05-architectures", {"self.features": "self.body"}, "05.build_alexnet.structure", "give the model three attributes, features", True),
    "vgg_block without padding": Mistake("05-architectures", {"kernel_size=3, padding=1))": "kernel_size=3))"}, "05.vgg_block.structure", "need padding=1"),
    "lenet5_forward renamed": Mistake("05-architectures", {"def lenet5_forward(params, x):": "def lenet_forward(params, x):"}, "05.lenet5_forward.logits", f"lenet5_forward is not defined, but lenet_forward is: {RENAMED}", True),
    "LeNet misses the ReLU after conv2": Mistake("05-architectures", {'h = relu_forward(conv2d_forward(h, params["conv2.weight"], params["conv2.bias"]))': 'h = conv2d_forward(h, params["conv2.weight"], params["conv2.bias"])'}, "05.lenet5_forward.logits", "a ReLU is missing after conv2"),
}

QUOTE = re.compile(r"line \d+: `(?P<line>[^`]*)`")


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_each_catalogued_mistake_gets_its_hint_and_no_other(name: str, tmp_path: Path) -> None:
    mistake = CATALOGUE[name]
    path = write_variant(mistake.assignment, mistake.replacements, tmp_path)
    message = run_checks(learner_from_notebook(path), mistake.assignment, [mistake.check])[mistake.check]
    assert message, f"{mistake.check} passed although {name}"
    hints = [h.strip() for h in message.split("Hint:")[1:]]
    if mistake.hint is None:
        assert not hints, f"a hint for a mistake that was not made: {message}"
    else:
        assert mistake.hint in message, message
        assert all(mistake.hint in h or h in mistake.hint for h in hints), f"a hint for a mistake that was not made: {message}"
    code = path.read_text()
    for quoted in QUOTE.finditer(message):
        assert quoted["line"].replace('"', '\\"') in code, f"the quote is not the learner's line: {quoted['line']}"


def test_a_shape_left_by_reducing_the_wrong_axes_gets_its_hint_only_where_no_other_mistake_gives_it() -> None:
    import numpy as np

    hints = dict(_pool_shape_hints(np.zeros((1, 1, 9, 9)), 2, 2, 0))
    assert hints[(1, 1, 2, 2)] == WRONG_AXES  # windows (1, 1, 4, 4, 2, 2) reduced over H' and W'
    padded = dict(_pool_shape_hints(np.zeros((1, 1, 5, 5)), 2, 2, 1))
    assert (1, 1, 2, 2) not in padded  # also the size without padding: the shape alone cannot tell


def test_the_catalogue_covers_every_assignment_with_at_least_40_mistakes() -> None:
    assert len(CATALOGUE) >= 40
    assert {m.assignment for m in CATALOGUE.values()} == {"01-convolution", "02-padding-stride", "03-pooling", "04-backprop", "05-architectures"}


def catalogue_table() -> str:
    """The catalogue as a Markdown table (mistake, check, hint, changed in issue 10)."""
    rows = ["| mistake | check | hint | changed in issue 10 |", "|---|---|---|---|"]
    for name, m in CATALOGUE.items():
        rows.append(f"| {name} | `{m.check}` | {m.hint or '(fails, no hint)'} | {'yes' if m.changed else 'no'} |")
    return "\n".join(rows)
