"""Checks for 05-architectures: LeNet-5 from the learner's own layers, parameter counts of
AlexNet and VGG-16, receptive fields, and VGG/AlexNet modules in PyTorch.

``lenet5_forward`` composes layers the learner wrote in 02-04. The graded checks run it with
the grader's stand-ins for those layers swapped in (:meth:`Learner.call_with_standins`), so a
mistake in chapter 02 costs points in 02 only. :func:`own_layers_report` (not graded) tells the
learner how their *own* layers do inside the network.

Expected values come from PyTorch: the trained reference LeNet-5 run in float64, reference
``torch.nn`` modules for AlexNet (torchvision's layout) and VGG-16, and ``conv1d`` stacks for
receptive fields. Grading reads them from the oracle fixture and never imports torch.
"""

from __future__ import annotations

import re
from functools import lru_cache, reduce
from typing import Any, Mapping, Sequence

import numpy as np

from autograder.checks.backprop import _Shown
from autograder.compare import assert_equal, assert_matches, describe_call, matching_hint
from autograder.i18n import N_, _
from autograder.learner import Learner, LearnerError, leaf_layers
from autograder.oracles import oracle
from autograder.own_layers import layer_sources, one_layer_at_a_time
from autograder.registry import CheckFailed, check

ASSIGNMENT = "05-architectures"

# Where lenet5_forward's layers come from; the graded checks swap in the grader's stand-ins.
LAYER_SOURCES = layer_sources("conv2d_forward", "maxpool2d_forward", "relu_forward", "linear_forward")
LOGITS_IMAGES = 256
ACCURACY_IMAGES = 2000
ACCURACY_BATCH = 250
REPORT_IMAGES = 64
LOGITS_ATOL = 1e-6

ALEXNET_PARAMETERS = 61_100_840  # torchvision.models.alexnet()
VGG16_PARAMETERS = 138_357_544  # torchvision.models.vgg16()
ALEXNET_INPUT = (1, 3, 224, 224)

# (c_in, c_out, k, bias)
CONV_COUNT_CASES: tuple[tuple[int, int, Any, bool], ...] = ((1, 6, 5, True), (3, 64, 11, True), (6, 16, 5, False), (3, 8, (3, 5), True), (512, 512, 3, True))
# (n_in, n_out, bias)
LINEAR_COUNT_CASES: tuple[tuple[int, int, bool], ...] = ((400, 120, True), (9216, 4096, True), (84, 10, False), (1, 1, True))
# (name, [(kernel, stride), ...])
RECEPTIVE_FIELD_CASES: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("three_3x3", ((3, 1),) * 3),
    ("none", ()),
    ("lenet5", ((5, 1), (2, 2), (5, 1), (2, 2))),
    ("alexnet", ((11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2))),
    ("vgg16", ((3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (3, 1), (2, 2),
               (3, 1), (3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (3, 1), (2, 2))),
    ("resnet_stem", ((7, 2), (3, 2))),
)
# (num_convs, in_channels, out_channels, input_shape)
VGG_BLOCK_CASES: tuple[tuple[int, int, int, tuple[int, ...]], ...] = ((2, 3, 8, (1, 3, 16, 16)), (1, 1, 4, (2, 1, 9, 9)), (3, 16, 32, (1, 16, 8, 8)))
VGG16_CONFIG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
ALEXNET_PAPER_WIDTHS = (96, 256, 384, 384, 256)
ALEXNET_WIDTHS = (64, 192, 384, 256, 256)


# ---------------------------------------------------------------------------------------------
# Inputs


def mnist_inputs(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` test images, normalized as the reference model expects, in float64
    (exactly the float32 values), and their labels."""
    from autograder.data import load_mnist, normalize

    images, labels = load_mnist("test")
    return normalize(images[:count]).astype(np.float64), labels[:count].astype(np.int64)


@lru_cache(maxsize=1)
def _lenet5_params() -> dict[str, np.ndarray]:
    from autograder.reference import load_numpy

    return load_numpy("lenet5")


def lenet5_params() -> dict[str, np.ndarray]:
    """The reference LeNet-5 weights as float64 arrays (a fresh dict each time)."""
    return {key: value.copy() for key, value in _lenet5_params().items()}


def normalize_layer(text: str) -> str:
    """A leaf layer's repr with cosmetic differences removed: ``inplace`` flags, and int
    sizes written as pairs (``kernel_size=2`` and ``kernel_size=(2, 2)`` are the same layer)."""
    text = re.sub(r",?\s*inplace=(True|False)", "", text).replace("(, ", "(")
    return re.sub(r"\b(kernel_size|stride|padding|dilation|output_size)=(\d+)\b", r"\1=(\2, \2)", text)


def _layers(layers: Sequence[str]) -> list[str]:
    """Leaf-layer reprs as compared: normalized, without the parameter-free Flatten and Identity."""
    return [normalize_layer(layer) for layer in layers if not layer.startswith(("Flatten(", "Identity("))]


# ---------------------------------------------------------------------------------------------
# Oracles


def build_oracles() -> dict[str, np.ndarray]:
    """Reference LeNet-5 logits (float64) and the wrong logits of classic mistakes, parameter
    counts of reference ``torch.nn`` modules, receptive fields measured with autograd."""
    import torch
    from torch import nn

    from autograder.reference import load

    out: dict[str, np.ndarray] = {}

    # LeNet-5, float64 (the float32 weights converted exactly).
    model = load("lenet5").double()
    x, __ = mnist_inputs(ACCURACY_IMAGES)
    with torch.no_grad():
        xt = torch.from_numpy(x)
        logits = model(xt)
        out["lenet5.logits"] = logits[:LOGITS_IMAGES].numpy().copy()
        out["lenet5.predictions"] = logits.argmax(dim=1).numpy().astype(np.int64)
        for name, wrong in _lenet5_mistakes(model, xt[:LOGITS_IMAGES]).items():
            out[f"lenet5.wrong.{name}"] = wrong.numpy().copy()

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    def biases(module: nn.Module, kind: type[nn.Module]) -> int:
        return sum(m.bias.numel() for m in module.modules() if isinstance(m, kind))

    # Shapes and counts only: the "meta" device allocates and initializes nothing.
    with torch.device("meta"):
        for i, (c_in, c_out, k, bias) in enumerate(CONV_COUNT_CASES):
            out[f"count_conv.{i}"] = np.array(count(nn.Conv2d(c_in, c_out, k, bias=bias)))
        for i, (n_in, n_out, bias) in enumerate(LINEAR_COUNT_CASES):
            out[f"count_linear.{i}"] = np.array(count(nn.Linear(n_in, n_out, bias=bias)))

        alexnet = reference_alexnet()
        assert count(alexnet) == ALEXNET_PARAMETERS, count(alexnet)
        out["alexnet.parameters"] = np.array(count(alexnet))
        out["alexnet.parameters_10_classes"] = np.array(count(reference_alexnet(10)))
        out["alexnet.output_shape"] = np.array(tuple(alexnet.eval()(torch.zeros(ALEXNET_INPUT)).shape))
        out["alexnet.layers"] = np.array(_layers(leaf_layers(alexnet)))
        out["alexnet.layers_10_classes"] = np.array(_layers(leaf_layers(reference_alexnet(10))))
        out["alexnet.wrong.no_bias"] = np.array(count(reference_alexnet(bias=False)))
        out["alexnet.wrong.paper_widths"] = np.array(count(reference_alexnet(widths=ALEXNET_PAPER_WIDTHS)))
        out["alexnet.wrong.convs_only"] = np.array(count(alexnet.features))
        out["alexnet.wrong.no_conv_bias"] = np.array(count(alexnet) - biases(alexnet, nn.Conv2d))
        out["alexnet.state_dict_keys"] = np.array(list(alexnet.state_dict().keys()))

        vgg16 = reference_vgg16()
        assert count(vgg16) == VGG16_PARAMETERS, count(vgg16)
        out["vgg16.parameters"] = np.array(count(vgg16))
        out["vgg16.wrong.no_bias"] = np.array(count(reference_vgg16(bias=False)))
        out["vgg16.wrong.convs_only"] = np.array(count(vgg16[0]))
        out["vgg16.wrong.no_fc_bias"] = np.array(count(vgg16) - biases(vgg16, nn.Linear))
        out["vgg16.wrong.no_conv_bias"] = np.array(count(vgg16) - biases(vgg16, nn.Conv2d))

        for network, module in (("alexnet", alexnet), ("vgg16", vgg16)):
            layers = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
            kinds = ["conv" if isinstance(m, nn.Conv2d) else "fc" for m in layers]
            out[f"{network}.layer_names"] = np.array([f"{kind}{kinds[:i + 1].count(kind)} ({normalize_layer(repr(m))})" for i, (kind, m) in enumerate(zip(kinds, layers))])
            out[f"{network}.layer_weights"] = np.array([m.weight.numel() for m in layers], dtype=np.int64)
            out[f"{network}.layer_biases"] = np.array([m.bias.numel() for m in layers], dtype=np.int64)

        for i, (num_convs, c_in, c_out, input_shape) in enumerate(VGG_BLOCK_CASES):
            block = reference_vgg_block(num_convs, c_in, c_out)
            out[f"vgg_block.{i}.output_shape"] = np.array(tuple(block(torch.zeros(input_shape)).shape))
            out[f"vgg_block.{i}.parameters"] = np.array(count(block))
            out[f"vgg_block.{i}.layers"] = np.array(_layers(leaf_layers(block)))

    for name, layers in RECEPTIVE_FIELD_CASES:
        out[f"receptive_field.{name}"] = np.array(_measured_receptive_field(layers))
    return out


def _lenet5_mistakes(model: Any, x: Any) -> dict[str, Any]:
    """Logits of LeNet-5 with one classic mistake each: a ReLU left out, flattened in
    (H, W, C) order."""
    import torch
    import torch.nn.functional as F

    def forward(skip_relu: str = "", channels_last: bool = False) -> torch.Tensor:
        def relu(h: torch.Tensor, name: str) -> torch.Tensor:
            return h if name == skip_relu else F.relu(h)

        h = F.max_pool2d(relu(model.conv1(x), "conv1"), 2)
        h = F.max_pool2d(relu(model.conv2(h), "conv2"), 2)
        h = h.permute(0, 2, 3, 1).reshape(len(h), -1) if channels_last else torch.flatten(h, 1)
        h = relu(model.fc1(h), "fc1")
        h = relu(model.fc2(h), "fc2")
        return model.fc3(h)

    assert torch.equal(forward(), model(x))
    mistakes = {f"no_relu_{name}": forward(skip_relu=name) for name in ("conv1", "conv2", "fc1", "fc2")}
    mistakes["flatten_hwc"] = forward(channels_last=True)
    return mistakes


def reference_alexnet(num_classes: int = 1000, bias: bool = True, widths: Sequence[int] = ALEXNET_WIDTHS) -> Any:
    """AlexNet in torchvision's layout (its ``features``, ``avgpool``, ``classifier``)."""
    from torch import nn

    c1, c2, c3, c4, c5 = widths

    class AlexNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, c1, kernel_size=11, stride=4, padding=2, bias=bias), nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(c1, c2, kernel_size=5, padding=2, bias=bias), nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(c2, c3, kernel_size=3, padding=1, bias=bias), nn.ReLU(inplace=True),
                nn.Conv2d(c3, c4, kernel_size=3, padding=1, bias=bias), nn.ReLU(inplace=True),
                nn.Conv2d(c4, c5, kernel_size=3, padding=1, bias=bias), nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2),
            )
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(
                nn.Dropout(p=0.5), nn.Linear(c5 * 6 * 6, 4096, bias=bias), nn.ReLU(inplace=True),
                nn.Dropout(p=0.5), nn.Linear(4096, 4096, bias=bias), nn.ReLU(inplace=True),
                nn.Linear(4096, num_classes, bias=bias),
            )

        def forward(self, x: Any) -> Any:
            import torch

            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    return AlexNet()


def reference_vgg_block(num_convs: int, in_channels: int, out_channels: int, bias: bool = True) -> Any:
    from torch import nn

    layers: list[nn.Module] = []
    for i in range(num_convs):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, kernel_size=3, padding=1, bias=bias), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(kernel_size=2, stride=2))


def reference_vgg16(bias: bool = True) -> Any:
    """VGG-16 (configuration D): 13 convolutions in five blocks, then three linear layers."""
    from torch import nn

    blocks, channels, convs = [], 3, 0
    for item in VGG16_CONFIG:
        if item == "M":
            blocks.append(reference_vgg_block(convs, channels, width, bias))
            channels, convs = width, 0
        else:
            width, convs = int(item), convs + 1
    classifier = nn.Sequential(
        nn.Flatten(), nn.Linear(512 * 7 * 7, 4096, bias=bias), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096, bias=bias), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 1000, bias=bias),
    )
    return nn.Sequential(nn.Sequential(*blocks), nn.AdaptiveAvgPool2d((7, 7)), classifier)


def _measured_receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """How many inputs the first output of a stack of 1-D convolutions (all-ones kernels)
    depends on, measured with autograd."""
    import torch
    import torch.nn.functional as F

    x = torch.zeros(1, 1, 4096, dtype=torch.float64, requires_grad=True)
    h = x
    for kernel, stride in layers:
        h = F.conv1d(h, torch.ones(1, 1, kernel, dtype=torch.float64), stride=stride)
    (h[0, 0, 0] * 1.0).backward()
    # The span, not the count: a kernel smaller than the stride before it leaves gaps.
    touched = torch.nonzero(x.grad[0, 0]).flatten()
    return int(touched.max() - touched.min() + 1)


def _oracle(key: str) -> np.ndarray:
    return oracle(ASSIGNMENT, key)


def _int(key: str) -> int:
    return int(_oracle(key))


# ---------------------------------------------------------------------------------------------
# LeNet-5, graded with the course's layers swapped in

NO_RELU_HINTS = {
    "conv1": N_("a ReLU is missing after conv1 (before the first max pooling)."),
    "conv2": N_("a ReLU is missing after conv2 (before the second max pooling)."),
    "fc1": N_("a ReLU is missing after fc1."),
    "fc2": N_("a ReLU is missing after fc2."),
}
FLATTEN_HINT = N_("flatten in (C, H, W) order, as torch.flatten(x, 1) does: h.reshape(len(h), -1) on the (N, 16, 5, 5) array, without moving the channels last.")


def _lenet5_hints() -> list[tuple[str, np.ndarray]]:
    hints = [(_(text), _oracle(f"lenet5.wrong.no_relu_{name}")) for name, text in NO_RELU_HINTS.items()]
    return hints + [(_(FLATTEN_HINT), _oracle("lenet5.wrong.flatten_hwc"))]


def _swapped_call_text(count: int) -> str:
    images = np.broadcast_to(np.float64(0.0), (count, 1, 28, 28))  # shown by its dtype and shape only
    return _("{call} with the course's layers").format(call=describe_call("lenet5_forward", _Shown("params"), images))


def _assert_logits(got: Any, expected: np.ndarray, call: str, hints: Sequence[tuple[str, np.ndarray]] = ()) -> None:
    scale = max(1.0, float(np.max(np.abs(expected))))
    assert_matches(got, expected, call=call, what=_("the logits array"), tolerance=LOGITS_ATOL / scale, hints=hints)


@check("05.lenet5_forward.logits", N_("lenet5_forward reproduces the reference LeNet-5's logits (to 1e-6)"), points=4)
def test_lenet5_forward_logits(learner: Learner) -> None:
    x, __ = mnist_inputs(LOGITS_IMAGES)
    got = learner.call_with_standins("lenet5_forward", LAYER_SOURCES, lenet5_params(), x)
    _assert_logits(got, _oracle("lenet5.logits"), _swapped_call_text(LOGITS_IMAGES), _lenet5_hints())


@check("05.lenet5_forward.accuracy", N_("lenet5_forward classifies 2,000 test images as accurately as the reference"), points=3)
def test_lenet5_forward_accuracy(learner: Learner) -> None:
    from autograder.reference import read_manifest

    x, labels = mnist_inputs(ACCURACY_IMAGES)
    call = _swapped_call_text(ACCURACY_IMAGES)
    parts = []
    for start in range(0, ACCURACY_IMAGES, ACCURACY_BATCH):  # batches keep the windows' memory small
        batch = x[start:start + ACCURACY_BATCH]
        logits = learner.call_with_standins("lenet5_forward", LAYER_SOURCES, lenet5_params(), batch)
        if not isinstance(logits, np.ndarray) or logits.shape != (len(batch), 10):
            raise CheckFailed(_("{call}: must return logits of shape ({images}, 10), got {got}.").format(
                call=_swapped_call_text(len(batch)), images=len(batch), got=getattr(logits, "shape", type(logits).__name__)))
        parts.append(logits)
    logits = np.concatenate(parts)
    reference = _oracle("lenet5.predictions")
    expected = float(np.mean(reference == labels))
    got = float(np.mean(logits.argmax(axis=1) == labels))
    if got != expected:
        hint = matching_hint(logits[:LOGITS_IMAGES], _lenet5_hints(), LOGITS_ATOL)
        full = read_manifest().get("lenet5", {}).get("test_accuracy")
        on_full = _("; on all 10,000 test images it reaches {accuracy:.2%}").format(accuracy=full) if full is not None else ""
        disagree = int(np.sum(logits.argmax(axis=1) != reference))
        advice = _("Hint: {hint}").format(hint=hint) if hint else _("Check the layer order and every ReLU against the architecture table.")
        raise CheckFailed(
            _("{call}: accuracy {got:.2%} on the first {images} test images, but the reference LeNet-5 reaches {expected:.2%} on them{on_full}; "
              "{disagree} predictions differ from the reference's. {advice}").format(
                call=call, got=got, images=ACCURACY_IMAGES, expected=expected, on_full=on_full, disagree=disagree, advice=advice)
        )


# ---------------------------------------------------------------------------------------------
# Parameter counts


@check("05.count_conv_params.values", N_("count_conv_params counts weights and biases of a convolution"), points=1)
def test_count_conv_params_values(learner: Learner) -> None:
    for i, (c_in, c_out, k, bias) in enumerate(CONV_COUNT_CASES):
        kh, kw = (k, k) if isinstance(k, int) else k
        call = describe_call("count_conv_params", c_in, c_out, k, bias=bias)
        got = learner.call("count_conv_params", c_in, c_out, k, bias=bias)
        hint = None
        if bias and got == c_out * c_in * kh * kw:
            hint = _("add the biases: one per output channel (c_out of them).")
        elif not bias and got == c_out * (c_in * kh * kw + 1):
            hint = _("with bias=False there are no biases to count.")
        elif got == c_in * kh * kw + int(bias):
            hint = _("every output channel has its own kernel over all input channels: multiply by c_out.")
        assert_equal(_as_int(got), _int(f"count_conv.{i}"), call=call, hint=hint)


@check("05.count_linear_params.values", N_("count_linear_params counts weights and biases of a linear layer"), points=1)
def test_count_linear_params_values(learner: Learner) -> None:
    for i, (n_in, n_out, bias) in enumerate(LINEAR_COUNT_CASES):
        call = describe_call("count_linear_params", n_in, n_out, bias=bias)
        got = learner.call("count_linear_params", n_in, n_out, bias=bias)
        hint = _("add the biases: one per output (n_out of them).") if bias and got == n_in * n_out else None
        assert_equal(_as_int(got), _int(f"count_linear.{i}"), call=call, hint=hint)


def _as_int(value: Any) -> Any:
    """Integers of any kind (Python, NumPy) compare as Python ints; anything else unchanged."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def _check_network_count(learner: Learner, name: str, network: str, hints: Mapping[str, str]) -> None:
    """``name()`` must return the oracle ``<network>.parameters``; ``hints`` maps the oracle
    keys of wrong counts (``<network>.wrong.*``) to what that count forgot."""
    got = _as_int(learner.call(name))
    by_count = {_int(f"{network}.wrong.{key}"): _(text) for key, text in hints.items()}
    hint = (by_count.get(got) or _one_layer_off(network, _int(f"{network}.parameters") - got)) if isinstance(got, int) else None
    assert_equal(got, _int(f"{network}.parameters"), call=f"{name}()", hint=hint)


def _one_layer_off(network: str, short_by: int) -> str | None:
    """Which layer a count that is off by exactly one layer's parameters, weights or biases got
    wrong (every layer that fits is named: VGG has several of one size)."""
    layers = list(zip(_oracle(f"{network}.layer_names").tolist(), _oracle(f"{network}.layer_weights").tolist(), _oracle(f"{network}.layer_biases").tolist()))
    readings = [
        (lambda w, b: w + b == short_by, N_("the count is short by exactly the {n:,} parameters of {names}: is that layer missing from your list?")),
        (lambda w, b: w + b == -short_by, N_("the count is over by exactly the {n:,} parameters of {names}: is that layer counted twice?")),
        (lambda w, b: b == short_by, N_("the count is short by exactly the {n:,} biases of {names}.")),
        (lambda w, b: w == short_by, N_("the count is short by exactly the {n:,} weights of {names}.")),
    ]
    for fits, text in readings:
        names = [name for name, w, b in layers if fits(w, b)]
        if names:
            either = reduce(lambda first, second: _("{first} or {second}").format(first=first, second=second), names)
            return _(text).format(n=abs(short_by), names=either)
    return None


CONV_BIAS_HINT = N_("the convolutions have biases too, one per output channel (check count_conv_params).")


@check("05.alexnet_param_count.total", N_("alexnet_param_count gives torchvision's 61,100,840"), points=2)
def test_alexnet_param_count_total(learner: Learner) -> None:
    _check_network_count(learner, "alexnet_param_count", "alexnet", {
        "no_bias": N_("every convolution and linear layer has biases too."),
        "no_conv_bias": CONV_BIAS_HINT,
        "paper_widths": N_("that is the 2012 paper's channel widths (96, 256, 384, 384, 256); this course counts torchvision's AlexNet (64, 192, 384, 256, 256)."),
        "convs_only": N_("that is the convolutions only; the three linear layers hold most of AlexNet's parameters."),
    })


@check("05.vgg16_param_count.total", N_("vgg16_param_count gives torchvision's 138,357,544"), points=2)
def test_vgg16_param_count_total(learner: Learner) -> None:
    _check_network_count(learner, "vgg16_param_count", "vgg16", {
        "no_bias": N_("every convolution and linear layer has biases too."),
        "no_fc_bias": N_("the linear layers have biases too."),
        "no_conv_bias": CONV_BIAS_HINT,
        "convs_only": N_("that is the 13 convolutions only; add the three linear layers (512 * 7 * 7 -> 4096 -> 4096 -> 1000)."),
    })


# ---------------------------------------------------------------------------------------------
# Receptive field


@check("05.receptive_field.values", N_("receptive_field matches autograd's measurement on stacks of convolutions"), points=2)
def test_receptive_field_values(learner: Learner) -> None:
    for name, layers in RECEPTIVE_FIELD_CASES:
        layer_list = [tuple(layer) for layer in layers]
        call = describe_call("receptive_field", layer_list)
        got = _as_int(learner.call("receptive_field", layer_list))
        hint = None
        if got == 1 + sum(k - 1 for k, _stride in layers) and any(s > 1 for _kernel, s in layers[:-1]):
            hint = _("each layer's kernel reaches further by the product of the strides before it: r += (k - 1) * jump, then jump *= s.")
        elif got == sum(k - 1 for k, _stride in layers):
            hint = _("one output unit of a 1 x 1 stack already sees one input: start from r = 1.")
        assert_equal(got, _int(f"receptive_field.{name}"), call=call, hint=hint)


# ---------------------------------------------------------------------------------------------
# Modules


def _summary(learner: Learner, name: str, *args: Any, input_shape: Sequence[int], **kwargs: Any) -> tuple[dict[str, Any], str]:
    call = describe_call(name, *args, **kwargs)
    try:
        summary = learner.call_and_summarize(name, *args, input_shape=input_shape, **kwargs)
    except LearnerError as error:
        if "mat1 and mat2" in str(error) or "size mismatch" in str(error):
            raise CheckFailed(_("{error} Hint: the first linear layer's input size must equal the flattened size of what comes before it.").format(error=error)) from None
        raise
    if not summary.get("is_module"):
        raise CheckFailed(_("{call}: returned a {type}, expected a torch.nn.Module.").format(call=call, type=summary.get("type")))
    return summary, call


def _assert_layers(got: list[str], expected: Sequence[str], call: str) -> None:
    expected = [str(layer) for layer in expected]
    for index, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            raise CheckFailed(_("{call}: layer {index} is {got}, expected {expected}.").format(call=call, index=index, got=g, expected=e))
    if len(got) != len(expected):
        more = got[len(expected):] or expected[len(got):]
        if len(got) > len(expected):
            message = _("{call}: has {got} layers (without Flatten), expected {expected}; extra: {layers}.")
        else:
            message = _("{call}: has {got} layers (without Flatten), expected {expected}; missing: {layers}.")
        raise CheckFailed(message.format(call=call, got=len(got), expected=len(expected), layers=", ".join(more[:3])))


@check("05.vgg_block.structure", N_("vgg_block stacks 3x3 convolutions with ReLUs, then 2x2 max pooling"), points=2)
def test_vgg_block_structure(learner: Learner) -> None:
    for i, (num_convs, c_in, c_out, input_shape) in enumerate(VGG_BLOCK_CASES):
        summary, call = _summary(learner, "vgg_block", num_convs, c_in, c_out, input_shape=input_shape)
        call = _("{call} on input {shape}").format(call=call, shape=input_shape)
        if summary["type"] != "Sequential":
            raise CheckFailed(_("{call}: returned a {type}, expected a torch.nn.Sequential.").format(call=call, type=summary["type"]))
        expected_shape = tuple(int(v) for v in _oracle(f"vgg_block.{i}.output_shape"))
        hint = None
        if summary["output_shape"] == input_shape[:1] + (c_out,) + input_shape[2:]:
            hint = _("the block ends with a 2x2 max pooling (stride 2), which halves height and width.")
        elif summary["output_shape"] is not None and summary["output_shape"][1:2] == (c_out,):
            hint = _("3x3 convolutions need padding=1 to keep the height and width.")
        assert_equal(summary["output_shape"], expected_shape, call=call, what=_("the output shape"), hint=hint)
        assert_equal(summary["parameters"], _int(f"vgg_block.{i}.parameters"), call=call, what=_("the parameter count"))
        _assert_layers(_layers(summary["layers"]), _oracle(f"vgg_block.{i}.layers").tolist(), call)


@check("05.build_alexnet.structure", N_("build_alexnet builds torchvision's AlexNet layout (61,100,840 parameters)"), points=3)
def test_build_alexnet_structure(learner: Learner) -> None:
    summary, call = _summary(learner, "build_alexnet", input_shape=ALEXNET_INPUT)
    call = _("{call} on input {shape}").format(call=call, shape=ALEXNET_INPUT)
    assert_equal(summary["output_shape"], tuple(int(v) for v in _oracle("alexnet.output_shape")), call=call, what=_("the output shape"))
    expected = _int("alexnet.parameters")
    hint = _("compare with alexnet_param_count(): every layer's weights and biases.") if summary["parameters"] != expected else None
    assert_equal(summary["parameters"], expected, call=call, what=_("the parameter count"), hint=hint)
    _assert_layers(_layers(summary["layers"]), _oracle("alexnet.layers").tolist(), call)
    expected_keys = _oracle("alexnet.state_dict_keys").tolist()
    if summary["state_dict_keys"] != expected_keys:
        got_keys = summary["state_dict_keys"]
        first = next((g for g, e in zip(got_keys, expected_keys) if g != e), (got_keys or [_("nothing")])[0])
        raise CheckFailed(
            _("{call}: its state_dict keys start {got}... (first difference: {first}), expected torchvision's "
              "{expected}, ..., {last}, so that torchvision's weights would load. "
              "Hint: give the model three attributes, features (an nn.Sequential of the convolutions, ReLUs and poolings), "
              "avgpool (nn.AdaptiveAvgPool2d((6, 6))) and classifier (an nn.Sequential of dropouts, linear layers and ReLUs).").format(
                call=call, got=", ".join(got_keys[:2]), first=first, expected=", ".join(expected_keys[:2]), last=expected_keys[-1])
        )
    # The layout passed a forward pass above; with num_classes only the head changes, so its
    # layers and count are compared without a second 0.1 s forward pass.
    summary, call = _summary(learner, "build_alexnet", num_classes=10, input_shape=None)
    expected_layers = _oracle("alexnet.layers_10_classes").tolist()
    got_layers = _layers(summary["layers"])
    if got_layers[-1:] != expected_layers[-1:]:
        raise CheckFailed(_("{call}: the last layer is {got}, expected {expected}. Hint: the last linear layer has num_classes outputs.").format(
            call=call, got=(got_layers or [_("nothing")])[-1], expected=expected_layers[-1]))
    _assert_layers(got_layers, expected_layers, call)
    assert_equal(summary["parameters"], _int("alexnet.parameters_10_classes"), call=call, what=_("the parameter count"))


# ---------------------------------------------------------------------------------------------
# Not graded: the learner's own layers


def own_layers_report(learner: Learner) -> str:
    """How the learner's *own* layers from 02-04 do inside ``lenet5_forward`` (not graded).

    The graded checks swap in the course's layers; this report runs ``lenet5_forward`` with the
    learner's own layers on the first test images and, if the logits differ from the reference,
    swaps in all layers but one at a time to name the culprits.

    Returns:
        A few lines for the learner, without a trailing newline.
    """
    title = _("Your own layers in lenet5_forward (not graded; first {images} test images):").format(images=REPORT_IMAGES)
    if not learner.has("lenet5_forward"):
        return title + "\n  " + _("lenet5_forward is not defined yet, so there is nothing to report.")
    x, _labels = mnist_inputs(REPORT_IMAGES)
    expected = _oracle("lenet5.logits")[:REPORT_IMAGES]

    def logits(replacements: Mapping[str, str]) -> Any:
        """lenet5_forward's result with ``replacements`` swapped in (none: all the learner's own layers)."""
        if replacements:
            return learner.call_with_standins("lenet5_forward", replacements, lenet5_params(), x)
        return learner.call("lenet5_forward", lenet5_params(), x)

    def described(got: Any) -> str | None:
        """None when the logits match, else a short description of what went wrong."""
        if not isinstance(got, np.ndarray) or got.shape != expected.shape:
            return _("returns {got}, expected logits of shape {shape}").format(got=getattr(got, "shape", type(got).__name__), shape=expected.shape)
        with np.errstate(invalid="ignore"):
            error_size = float(np.max(np.abs(got.astype(np.float64) - expected)))
        if error_size <= LOGITS_ATOL:
            return None
        return _("gives nan logits") if np.isnan(error_size) else _("logits differ from the reference by up to {error:.3g}").format(error=error_size)

    def difference(replacements: Mapping[str, str]) -> str | None:
        try:
            return described(logits(replacements))
        except CheckFailed as error:
            return _("fails: {error}").format(error=error)

    try:
        with_course_layers = described(logits(LAYER_SOURCES))
    except CheckFailed as error:
        return title + "\n  " + _("lenet5_forward cannot run yet: {error}").format(error=error)
    if with_course_layers is not None:
        return title + "\n  " + _("lenet5_forward does not match the reference even with the course's layers; fix it first (see 05.lenet5_forward.logits).")
    whole = difference({})
    if whole is None:
        return title + "\n  ✓ " + _("with your own {layers} the logits match the reference to {tolerance:g}.").format(layers=", ".join(LAYER_SOURCES), tolerance=LOGITS_ATOL)
    lines = [title, "  ✗ " + _("with all your own layers lenet5_forward {difference}. One layer at a time (the others the course's):").format(difference=whole)]
    lines += one_layer_at_a_time(learner, LAYER_SOURCES, difference)
    return "\n".join(lines)


# ==== HIDDEN CHECKS: instructor only; the student release ends this module above this line ====
# Official grading (autograder.classroom.official) adds these to the public checks; their
# oracles live in oracle_data/hidden/, which the student release leaves out too.

HIDDEN_CONV_COUNT_CASES: tuple[tuple[int, int, Any, bool], ...] = ((3, 64, 11, True), (256, 384, (1, 7), False), (1, 1, 1, True))


def build_hidden_oracles() -> dict[str, np.ndarray]:
    """torch.nn.Conv2d's parameter counts for the hidden cases."""
    import torch

    return {
        f"count_conv.hidden.{i}": np.array(sum(p.numel() for p in torch.nn.Conv2d(c_in, c_out, k, bias=bias).parameters()))
        for i, (c_in, c_out, k, bias) in enumerate(HIDDEN_CONV_COUNT_CASES)
    }


@check("05.count_conv_params.hidden_values", N_("count_conv_params on AlexNet's first layer, a 1x7 kernel and a 1x1 layer"), points=1, hidden=True)
def test_count_conv_params_hidden_values(learner: Learner) -> None:
    for i, (c_in, c_out, k, bias) in enumerate(HIDDEN_CONV_COUNT_CASES):
        got = learner.call("count_conv_params", c_in, c_out, k, bias=bias)
        assert_equal(_as_int(got), _int(f"count_conv.hidden.{i}"), call=describe_call("count_conv_params", c_in, c_out, k, bias=bias))
