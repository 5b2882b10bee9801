"""Helpers of the chapter "Modern architectures" (``book/modern.md``): the small experiments
(batch norm on or off, plain or residual stacks), the blocks it counts (dense, Inception,
depthwise-separable, ConvNeXt), cost measurements and the block diagrams, drawn in code.

Everything runs on one CPU thread in seconds: MNIST subsets, small widths, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from autograder.i18n import label


# ---------------------------------------------------------------------------------------------
# Data and training


def mnist_tensors(count: int, split: str = "train", size: int = 28) -> tuple[Any, Any]:
    """The first ``count`` MNIST images of ``split`` as a float32 tensor (N, 1, size, size),
    normalised (and average-pooled to ``size`` when smaller than 28), and int64 labels."""
    import torch
    import torch.nn.functional as F

    from autograder.data import load_mnist, normalize

    images, labels = load_mnist(split)
    x = torch.from_numpy(normalize(images[:count]))
    if size != 28:
        x = F.adaptive_avg_pool2d(x, size)
    return x, torch.from_numpy(labels[:count].astype(np.int64))


@dataclass
class Run:
    """One training run: the loss of every step, accuracy on held-out images, and, when asked
    for, the gradient norm of each layer's weight at the first step."""

    losses: list[float] = field(default_factory=list)
    accuracy: float = 0.0
    gradient_norms: list[float] = field(default_factory=list)

    def final_loss(self, last: int = 20) -> float:
        """Mean loss of the last ``last`` steps (nan when the run diverged)."""
        return float(np.mean(self.losses[-last:]))


def train(model: Any, data: tuple[Any, Any], held_out: tuple[Any, Any], lr: float, epochs: int = 1, batch: int = 50,
          seed: int = 0, momentum: float = 0.0, weights: Callable[[Any], Sequence[Any]] | None = None) -> Run:
    """SGD with cross-entropy, batches in a seeded order; ``weights(model)`` lists the layers
    whose gradient norms are recorded at the first step."""
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    run = Run()
    x, y = data
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            index = order[start:start + batch]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            if weights is not None and not run.gradient_norms:
                run.gradient_norms = [float(w.grad.norm()) for w in weights(model)]
            optimizer.step()
            run.losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        run.accuracy = float((model(held_out[0]).argmax(1) == held_out[1]).double().mean())
    return run


def small_cnn(batch_norm: bool, seed: int, width: int = 8, size: int = 14) -> Any:
    """conv - (BN) - ReLU - pool - conv - (BN) - ReLU - pool - linear 10 for size x size digits,
    ``width`` and 2 * ``width`` channels. With batch norm the convolutions have no bias: BN's
    shift replaces it."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    def stage(c_in: int, c_out: int) -> list[nn.Module]:
        norm = [nn.BatchNorm2d(c_out)] if batch_norm else []
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm), *norm, nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*stage(1, width), *stage(width, 2 * width), nn.Flatten(), nn.Linear(2 * width * (size // 4) ** 2, 10))


def deep_stack(depth: int, residual: bool, seed: int, width: int = 8, size: int = 7) -> Any:
    """A 3x3 stem convolution, then ``depth`` 3x3 convolutions of ``width`` channels with ReLUs
    (PyTorch's default initialisation, no batch norm) on ``size`` x ``size`` digits, then a
    linear layer. With ``residual``, every two convolutions form a basic block
    relu(conv(relu(conv(h))) + h); without, the same layers are a plain stack."""
    import torch
    from torch import nn

    torch.manual_seed(seed)

    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, width, 3, padding=1)
            self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(depth))
            self.head = nn.Linear(width * size * size, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.stem(x))
            for i in range(0, depth, 2):
                body = self.convs[i + 1](torch.relu(self.convs[i](h)))
                h = torch.relu(body + h if residual else body)
            return self.head(h.flatten(1))

    return Stack()


# ---------------------------------------------------------------------------------------------
# Blocks and costs


def count(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def macs(module: Any, input_shape: Sequence[int]) -> int:
    """Multiply-adds of one forward pass (convolutions and linear layers), measured with
    ``FlopCounterMode`` on the meta device (no memory, no arithmetic): flops / 2."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        module(torch.empty(*input_shape))
    return int(counter.get_total_flops() // 2)


def dense_block(c_in: int, growth: int, layers: int) -> Any:
    """DenseNet's dense block: each layer BN-ReLU-1x1 conv (4 * growth) - BN-ReLU-3x3 conv
    (growth) sees the concatenation of the block's input and every earlier layer's output."""
    import torch
    from torch import nn

    class DenseBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList(
                nn.Sequential(nn.BatchNorm2d(c_in + i * growth), nn.ReLU(), nn.Conv2d(c_in + i * growth, 4 * growth, 1, bias=False),
                              nn.BatchNorm2d(4 * growth), nn.ReLU(), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False))
                for i in range(layers))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = [x]
            for layer in self.layers:
                features.append(layer(torch.cat(features, 1)))
            return torch.cat(features, 1)

    return DenseBlock()


def transition(c_in: int) -> Any:
    """DenseNet's transition: BN-ReLU-1x1 conv halving the channels, 2x2 average pooling."""
    from torch import nn

    return nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), nn.Conv2d(c_in, c_in // 2, 1, bias=False), nn.AvgPool2d(2))


def inception(c_in: int, c1: int, c3: tuple[int, int], c5: tuple[int, int], pool: int, reduce: bool = True) -> Any:
    """GoogLeNet's Inception module: 1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by
    side, concatenated. With ``reduce`` the 3x3 and 5x5 branches start with a 1x1 convolution
    to ``c3[0]`` / ``c5[0]`` channels and the pool branch ends with one to ``pool``; without,
    the naive module convolves the full input (and the pool branch keeps its ``c_in``)."""
    import torch
    from torch import nn

    def conv(a: int, b: int, k: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(a, b, k, padding=k // 2), nn.ReLU())

    class Inception(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.branch1 = conv(c_in, c1, 1)
            if reduce:
                self.branch3 = nn.Sequential(conv(c_in, c3[0], 1), conv(c3[0], c3[1], 3))
                self.branch5 = nn.Sequential(conv(c_in, c5[0], 1), conv(c5[0], c5[1], 5))
                self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(c_in, pool, 1))
            else:
                self.branch3, self.branch5, self.pool = conv(c_in, c3[1], 3), conv(c_in, c5[1], 5), nn.MaxPool2d(3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.pool(x)], 1)

    return Inception()


def separable(c_in: int, c_out: int, k: int = 3) -> Any:
    """MobileNet's depthwise-separable convolution: k x k depthwise, then 1 x 1 pointwise."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in), nn.Conv2d(c_in, c_out, 1))


def convnext_block(dim: int) -> Any:
    """ConvNeXt's block: 7x7 depthwise, LayerNorm over channels, 1x1 to 4 * dim, GELU, 1x1
    back, added to the input (without layer scale and stochastic depth)."""
    import torch
    from torch import nn

    class ConvNeXtBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
            self.norm = nn.LayerNorm(dim)
            self.pwconv1 = nn.Linear(dim, 4 * dim)
            self.act = nn.GELU()
            self.pwconv2 = nn.Linear(4 * dim, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.dwconv(x).permute(0, 2, 3, 1)  # channels last for LayerNorm and the 1x1s
            return x + self.pwconv2(self.act(self.pwconv1(self.norm(h)))).permute(0, 3, 1, 2)

    return ConvNeXtBlock()


# ---------------------------------------------------------------------------------------------
# Block diagrams

# name -> (boxes: (x, y, label, colour key), arrows: (from index, to index, bend))
Box = tuple[float, float, str, str]
COLOURS = {"conv": "#cfe2f3", "norm": "#fce5cd", "act": "#d9ead3", "op": "#eeeeee", "io": "#ffffff", "pool": "#ead1dc"}


def _chain(labels: Sequence[tuple[str, str]], x: float = 0.0, top: float = 0.0) -> list[Box]:
    return [(x, top - i, text, kind) for i, (text, kind) in enumerate(labels)]


def _layouts() -> dict[str, tuple[list[Box], list[tuple[int, int, float]]]]:
    layouts: dict[str, tuple[list[Box], list[tuple[int, int, float]]]] = {}
    boxes = _chain([("x", "io"), (label("3x3 conv"), "conv"), (label("batch norm"), "norm"), ("ReLU", "act"), (label("3x3 conv"), "conv"), (label("batch norm"), "norm"), ("+", "op"), ("ReLU", "act"), ("y", "io")])
    layouts["basic block"] = (boxes, [(i, i + 1, 0.0) for i in range(8)] + [(0, 6, 1.2)])
    boxes = _chain([(label("x (256 ch)"), "io"), (label("1x1 conv, 64"), "conv"), ("BN, ReLU", "norm"), (label("3x3 conv, 64"), "conv"), ("BN, ReLU", "norm"), (label("1x1 conv, 256"), "conv"), ("BN", "norm"), ("+", "op"), ("ReLU", "act"), (label("y (256 ch)"), "io")])
    layouts["bottleneck block"] = (boxes, [(i, i + 1, 0.0) for i in range(9)] + [(0, 7, 1.4)])
    boxes = _chain([("x", "io"), (label("3x3 conv, stride 2"), "conv"), ("BN, ReLU", "norm"), (label("3x3 conv"), "conv"), ("BN", "norm"), ("+", "op"), ("ReLU", "act"), ("y", "io")])
    boxes.append((1.6, -2.5, label("1x1 conv, stride 2\nBN (projection)"), "conv"))
    layouts["projection shortcut"] = (boxes, [(i, i + 1, 0.0) for i in range(7)] + [(0, 8, 0.0), (8, 5, 0.0)])
    boxes = _chain([("x0", "io"), ("BN-ReLU-1x1-BN-ReLU-3x3", "conv"), (label("concat [x0, x1]"), "op"), ("BN-ReLU-1x1-BN-ReLU-3x3", "conv"), (label("concat [x0, x1, x2]"), "op"), (label("transition: BN-ReLU-1x1, avg pool"), "pool")])
    layouts["dense block"] = (boxes, [(i, i + 1, 0.0) for i in range(5)] + [(0, 2, 1.2), (0, 4, 1.8), (2, 4, 1.2)])
    boxes = [(0, 0, label("previous layer"), "io"), (-2.7, -1.5, label("1x1 conv"), "conv"), (-0.9, -1.5, label("1x1 conv"), "conv"), (0.9, -1.5, label("1x1 conv"), "conv"), (2.7, -1.5, label("3x3 max pool"), "pool"),
             (-0.9, -3.0, label("3x3 conv"), "conv"), (0.9, -3.0, label("5x5 conv"), "conv"), (2.7, -3.0, label("1x1 conv"), "conv"), (0, -4.5, label("concatenate channels"), "op")]
    layouts["Inception module"] = (boxes, [(0, 1, 0.0), (0, 2, 0.0), (0, 3, 0.0), (0, 4, 0.0), (2, 5, 0.0), (3, 6, 0.0), (4, 7, 0.0), (1, 8, 0.0), (5, 8, 0.0), (6, 8, 0.0), (7, 8, 0.0)])
    boxes = _chain([(label("x (C ch)"), "io"), (label("3x3 depthwise conv\n(one kernel per channel)"), "conv"), ("BN, ReLU", "norm"), (label("1x1 pointwise conv\n(mixes channels)"), "conv"), ("BN, ReLU", "norm"), (label("y (O ch)"), "io")])
    layouts["depthwise-separable"] = (boxes, [(i, i + 1, 0.0) for i in range(5)])
    boxes = _chain([(label("x (C ch)"), "io"), (label("7x7 depthwise conv"), "conv"), ("LayerNorm", "norm"), (label("1x1 conv, 4C"), "conv"), ("GELU", "act"), (label("1x1 conv, C"), "conv"), ("+", "op"), ("y", "io")])
    layouts["ConvNeXt block"] = (boxes, [(i, i + 1, 0.0) for i in range(7)] + [(0, 6, 1.2)])
    return layouts


def draw_blocks(names: Sequence[str]) -> Any:
    """A figure with one block diagram per name (see :func:`_layouts`): boxes coloured by kind
    (convolution, normalisation, activation, pooling, operation), arrows for the data flow,
    skip connections as arcs on the right."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    layouts = _layouts()
    spans = [max(b[0] for b in layouts[name][0]) - min(b[0] for b in layouts[name][0]) + 3.0 for name in names]
    fig, axes = plt.subplots(1, len(names), figsize=(1.1 * sum(spans), 5.2), gridspec_kw={"width_ratios": spans})
    for ax, name in zip(np.atleast_1d(axes), names):
        boxes, arrows = layouts[name]
        for x, y, text, kind in boxes:
            ax.add_patch(FancyBboxPatch((x - 0.75, y - 0.3), 1.5, 0.6, boxstyle="round,pad=0.02", facecolor=COLOURS[kind], edgecolor="#555555"))
            ax.text(x, y, text, ha="center", va="center", fontsize=7.5 if len(text) < 22 else 6.2)
        for start, end, bend in arrows:
            (x0, y0, *_), (x1, y1, *_) = boxes[start], boxes[end]
            if bend:
                arrow = FancyArrowPatch((x0 + 0.75, y0), (x1 + 0.75, y1), connectionstyle=f"arc3,rad=-{0.25 * bend}", arrowstyle="-|>", mutation_scale=10, color="#cc0000")
            else:
                arrow = FancyArrowPatch((x0, y0 - 0.3), (x1, y1 + 0.3), arrowstyle="-|>", mutation_scale=10, color="#333333")
            ax.add_patch(arrow)
        xs, ys = [b[0] for b in boxes], [b[1] for b in boxes]
        ax.set_xlim(min(xs) - 1.0, max(xs) + 2.0)
        ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
        ax.set_title(label(name), fontsize=10)  # the layout names, e.g. "basic block", are in the book catalog
        ax.set_axis_off()
    fig.tight_layout()
    return fig
