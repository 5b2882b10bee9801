"""Schematic figures for the book, drawn with matplotlib when a chapter executes.

Each function draws a diagram from the numbers it is given (sizes, arrays computed by the course's
functions, shapes measured on a PyTorch model), so the pictures cannot drift from the text.
Every function returns the matplotlib ``Figure``; the chapter's cell displays it.
"""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from autograder.i18n import label

INPUT_COLOUR = "#dbe9f6"
PAD_COLOUR = "#eeeeee"
TAP_COLOUR = "#f4a259"
OUTPUT_COLOUR = "#c8e6c9"
FILLED_COLOUR = "#43a047"
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")


def _cell(ax: Axes, x: float, y: float, colour: str, text: str = "", size: float = 1.0, **kw: object) -> None:
    ax.add_patch(Rectangle((x, y), size, size, facecolor=colour, edgecolor="0.35", lw=0.8, **kw))
    if text:
        ax.text(x + size / 2, y + size / 2, text, ha="center", va="center", fontsize=8)


def _grid(ax: Axes, values: np.ndarray | None, x0: float, y0: float, colours: np.ndarray, fmt: str = "{:g}") -> None:
    """Draw a grid of cells with its top-left corner at (x0, y0); y grows downwards."""
    rows, cols = colours.shape
    for i in range(rows):
        for j in range(cols):
            text = "" if values is None else fmt.format(values[i, j])
            _cell(ax, x0 + j, y0 + i, colours[i, j], text)


def _frame(ax: Axes, width: float, height: float) -> None:
    ax.set_xlim(-0.5, width + 0.5)
    ax.set_ylim(height + 0.5, -1.2)
    ax.set_aspect("equal")
    ax.axis("off")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], colour: str = "0.3") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=colour, lw=1.2))


def window_starts(n: int, k: int, padding: int, stride: int, dilation: int) -> list[int]:
    """First padded-input index of every window along one axis (empty when none fits)."""
    span = dilation * (k - 1) + 1
    return list(range(0, n + 2 * padding - span + 1, stride))


def sliding_window(cases: Sequence[Mapping[str, int]]) -> Figure:
    """One panel per case: the zero-padded input, the taps of one window, and the output cell it
    fills. A case holds ``n, k, padding, stride, dilation`` and ``row, col``, the output position."""
    fig, axes = plt.subplots(1, len(cases), figsize=(3.6 * len(cases), 3.4))
    for ax, case in zip(np.atleast_1d(axes), cases):
        n, k, p, s, d = (case[key] for key in ("n", "k", "padding", "stride", "dilation"))
        size = n + 2 * p
        starts = window_starts(n, k, p, s, d)
        out = len(starts)
        colours = np.full((size, size), INPUT_COLOUR, dtype=object)
        colours[:p, :] = colours[size - p:, :] = colours[:, :p] = colours[:, size - p:] = PAD_COLOUR
        top, left = starts[case["row"]], starts[case["col"]]
        for a in range(k):
            for b in range(k):
                colours[top + a * d, left + b * d] = TAP_COLOUR
        _grid(ax, None, 0, 0, colours)
        span = d * (k - 1) + 1
        ax.add_patch(Rectangle((left, top), span, span, fill=False, edgecolor="#c0392b", lw=2))
        if p:
            ax.add_patch(Rectangle((p, p), n, n, fill=False, edgecolor="k", lw=1.6))
        x_out = size + 1.5
        out_colours = np.full((out, out), OUTPUT_COLOUR, dtype=object)
        out_colours[case["row"], case["col"]] = FILLED_COLOUR
        _grid(ax, None, x_out, (size - out) / 2, out_colours)
        _arrow(ax, (left + span, top + span / 2), (x_out + case["col"] + 0.5, (size - out) / 2 + case["row"] + 0.5), "#c0392b")
        ax.set_title(label("n={n}, k={k}, padding {p}, stride {s}, dilation {d}\noutput {out}×{out}").format(n=n, k=k, p=p, s=s, d=d, out=out), fontsize=9)
        _frame(ax, x_out + out, size)
    fig.tight_layout()
    return fig


def _volume(ax: Axes, x: float, y: float, depth: int, size: float, colour: str, shown: int = 6, step: float = 0.35) -> None:
    """A stack of ``depth`` square slices drawn as offset sheets (at most ``shown`` of them)."""
    sheets = min(depth, shown)
    for i in reversed(range(sheets)):
        ax.add_patch(Rectangle((x + step * i, y - step * i), size, size, facecolor=colour, edgecolor="0.3", lw=0.8, alpha=0.95))


def channel_volumes(c: int, h: int, w: int, o: int, k: int, out_h: int, out_w: int) -> Figure:
    """The input volume (C, H, W), O kernels of shape (C, k, k) and the output volume (O, H', W');
    each kernel spans all C input channels and fills one output channel."""
    fig, ax = plt.subplots(figsize=(9, 3.3))
    _volume(ax, 0, 0, c, 4, INPUT_COLOUR)
    ax.text(2.4, 5.0, label("input\nC×H×W = {c}×{h}×{w}").format(c=c, h=h, w=w), ha="center", va="top", fontsize=9)
    ax.add_patch(Rectangle((0.6, 0.6), 1.2, 1.2, fill=False, edgecolor="#c0392b", lw=2))
    for i in range(min(o, 8)):  # at most two rows of four kernels
        x = 6.9 + 1.15 * (i % 4)
        y = 0.6 + 1.6 * (i // 4)
        _volume(ax, x, y, c, 0.8, PALETTE[i % len(PALETTE)], shown=3, step=0.12)
    if o > 8:
        ax.text(9.0, 3.7, label("… {o} in all").format(o=o), ha="center", fontsize=8)
    ax.text(8.6, 5.0, label("{o} kernels, each\nC×k×k = {c}×{k}×{k}\nweights O×C×k×k").format(o=o, c=c, k=k), ha="center", va="top", fontsize=9)
    _arrow(ax, (5.6, 2.0), (6.8, 2.0))
    _arrow(ax, (11.2, 2.0), (12.4, 2.0))
    for i in reversed(range(min(o, 6))):
        ax.add_patch(Rectangle((13 + 0.35 * i, -0.35 * i + 0.3), 3.4, 3.4, facecolor=PALETTE[i % len(PALETTE)], edgecolor="0.3", lw=0.8, alpha=0.9))
    ax.text(15.5, 5.0, label("output\nO×H'×W' = {o}×{out_h}×{out_w}\n(one map per kernel)").format(o=o, out_h=out_h, out_w=out_w), ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.5, 18.5)
    ax.set_ylim(5.4, -3.0)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def pooling_windows(x: np.ndarray, k: int, stride: int, outputs: Mapping[str, np.ndarray]) -> Figure:
    """An (H, W) input with its k × k windows coloured (stride ``stride``), and each pooled
    output (e.g. ``{"max": ..., "average": ...}``, computed by the caller) in the same colours."""
    h, w = x.shape
    starts_h, starts_w = window_starts(h, k, 0, stride, 1), window_starts(w, k, 0, stride, 1)
    fig, ax = plt.subplots(figsize=(3.2 + 2.6 * len(outputs), 3.2))
    colours = np.full((h, w), "white", dtype=object)
    for i, top in enumerate(starts_h):
        for j, left in enumerate(starts_w):
            colour = PALETTE[(i * len(starts_w) + j) % len(PALETTE)]
            colours[top:top + k, left:left + k] = colour
    _grid(ax, x, 0, 0, colours)
    ax.text(w / 2, -0.4, label("input {h}×{w}, {k}×{k} windows, stride {stride}").format(h=h, w=w, k=k, stride=stride), ha="center", fontsize=9)
    x0 = w + 1.5
    for name, out in outputs.items():
        out_colours = np.array([[PALETTE[(i * out.shape[1] + j) % len(PALETTE)] for j in range(out.shape[1])] for i in range(out.shape[0])], dtype=object)
        y0 = (h - out.shape[0]) / 2
        _grid(ax, out, x0, y0, out_colours)
        ax.text(x0 + out.shape[1] / 2, y0 - 0.4, {"max": label("max pool"), "average": label("average pool")}.get(name, name), ha="center", fontsize=9)
        x0 += out.shape[1] + 1.5
    _frame(ax, x0, h)
    fig.tight_layout()
    return fig


def receptive_field_stack(layers: Sequence[tuple[int, int, int]], width: int) -> tuple[Figure, list[int]]:
    """Units along one axis, the input at the bottom and one output unit at the top, with the
    units of every layer that feed it highlighted. Each unit sits above the centre of the input
    pixels it sees. ``layers`` are ``(kernel, stride, dilation)`` from the input side; returns the
    figure and the width of the highlighted region at each level, the input's first."""
    sizes, starts, jumps = [width], [0.0], [1]
    for k, s, d in layers:
        sizes.append((sizes[-1] - d * (k - 1) - 1) // s + 1)
        starts.append(starts[-1] + d * (k - 1) / 2 * jumps[-1])
        jumps.append(jumps[-1] * s)
    feeding: list[set[int]] = [set() for _ in sizes]
    feeding[-1] = {sizes[-1] // 2}
    for level in range(len(layers), 0, -1):
        k, s, d = layers[level - 1]
        feeding[level - 1] = {i * s + j * d for i in feeding[level] for j in range(k)}

    def position(level: int, i: int) -> float:
        return starts[level] + i * jumps[level]

    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.8 * len(layers)))
    fields = []
    for level, units in enumerate(feeding):
        y = level
        for i in range(sizes[level]):
            colour = TAP_COLOUR if i in units else INPUT_COLOUR
            ax.add_patch(Rectangle((position(level, i) - 0.4, y - 0.25), 0.8, 0.5, facecolor=colour, edgecolor="0.4", lw=0.6))
        fields.append(max(units) - min(units) + 1)
        name = label("input") if level == 0 else label("layer {level}: k={k}, s={s}, d={d}").format(level=level, k=layers[level - 1][0], s=layers[level - 1][1], d=layers[level - 1][2])
        ax.text(-1.0, y, name, ha="right", va="center", fontsize=8)
        ax.text(width, y, (label("{count} units") if fields[-1] > 1 else label("{count} unit")).format(count=fields[-1]), va="center", fontsize=8)
        if level:
            k, s, d = layers[level - 1]
            for i in units:
                for j in range(k):
                    ax.plot([position(level, i), position(level - 1, i * s + j * d)], [y - 0.25, y - 0.75], color="0.55", lw=0.6)
    ax.set_xlim(-9, width + 3)
    ax.set_ylim(-0.6, len(layers) + 0.6)
    ax.axis("off")
    fig.tight_layout()
    return fig, fields


def conv_backward(dout: np.ndarray, w: np.ndarray, dx: np.ndarray) -> Figure:
    """The input gradient of a valid 2-D cross-correlation: the upstream gradient padded with
    k - 1 zeros, slid over by the kernel rotated 180°, gives ``dx`` (the full convolution)."""
    k = w.shape[0]
    padded = np.pad(dout, k - 1)
    fig, ax = plt.subplots(figsize=(10, 3.4))
    colours = np.full(padded.shape, PAD_COLOUR, dtype=object)
    colours[k - 1:k - 1 + dout.shape[0], k - 1:k - 1 + dout.shape[1]] = INPUT_COLOUR
    colours[:k, :k] = np.where(colours[:k, :k] == PAD_COLOUR, "#fde2c8", TAP_COLOUR)
    _grid(ax, padded, 0, 0, colours, "{:.3g}")
    ax.text(padded.shape[1] / 2, -0.4, label("upstream gradient {h}×{w}, padded by k−1 = {pad}").format(h=dout.shape[0], w=dout.shape[1], pad=k - 1), ha="center", fontsize=9)
    x0 = padded.shape[1] + 1.0
    ax.text(x0 - 0.5, padded.shape[0] / 2, "⋆", fontsize=16, ha="center", va="center")
    rotated = np.rot90(w, 2)
    _grid(ax, rotated, x0, (padded.shape[0] - k) / 2, np.full(w.shape, TAP_COLOUR, dtype=object), "{:.3g}")
    ax.text(x0 + k / 2, (padded.shape[0] - k) / 2 - 0.4, label("kernel rotated 180°"), ha="center", fontsize=9)
    x1 = x0 + k + 1.0
    ax.text(x1 - 0.5, padded.shape[0] / 2, "=", fontsize=16, ha="center", va="center")
    out_colours = np.full(dx.shape, OUTPUT_COLOUR, dtype=object)
    out_colours[0, 0] = FILLED_COLOUR
    _grid(ax, dx, x1, (padded.shape[0] - dx.shape[0]) / 2, out_colours, "{:.3g}")
    ax.text(x1 + dx.shape[1] / 2, (padded.shape[0] - dx.shape[0]) / 2 - 0.4, label("∂L/∂X {h}×{w} (full convolution)").format(h=dx.shape[0], w=dx.shape[1]), ha="center", fontsize=9)
    _frame(ax, x1 + dx.shape[1], padded.shape[0])
    fig.tight_layout()
    return fig


def architecture(stages: Sequence[tuple[str, tuple[int, ...]]], title: str) -> Figure:
    """A block diagram: one slab per stage, whose height grows with the spatial size and whose
    thickness grows with the channels; vectors are thin bars whose height grows with their
    length. ``stages`` are ``(label, output shape without the batch axis)``, e.g. measured with
    a forward hook (:func:`autograder.book.tables.stages`)."""
    slot = 1.6
    fig, ax = plt.subplots(figsize=(max(6.0, 0.95 * len(stages)), 3.8))
    for index, (name, shape) in enumerate(stages):
        x = index * slot
        if len(shape) == 3:
            c, h, _ = shape
            height = 0.5 + 2.8 * np.sqrt(h / 224)
            thickness = 0.12 + 0.09 * np.log2(max(c, 1))
        else:
            height, thickness = 0.4 + 2.8 * np.sqrt(min(shape[0], 4096) / 4096), 0.12
        colour = PALETTE[index % len(PALETTE)]
        ax.add_patch(Rectangle((x - thickness / 2 + 0.1, -height / 2 + 0.1), thickness, height, facecolor=colour, edgecolor="0.25", lw=0.6, alpha=0.45))
        ax.add_patch(Rectangle((x - thickness / 2, -height / 2), thickness, height, facecolor=colour, edgecolor="0.25", lw=0.8))
        wrapped = "\n".join(textwrap.fill(line, 13) for line in name.splitlines())
        ax.text(x, -1.85, wrapped, ha="center", va="top", fontsize=7)
        ax.text(x, 1.8, "×".join(map(str, shape)), ha="center", va="bottom", fontsize=7, rotation=35)
        if index:
            _arrow(ax, (x - slot + 0.45, 0), (x - 0.45, 0), "0.6")
    ax.set_title(title, fontsize=10)
    ax.set_xlim(-0.8, (len(stages) - 1) * slot + 0.8)
    ax.set_ylim(-3.0, 2.9)
    ax.axis("off")
    fig.tight_layout()
    return fig


def _box(ax: Axes, x: float, y: float, text: str, colour: str, width: float = 2.2, height: float = 0.7) -> tuple[float, float]:
    ax.add_patch(Rectangle((x - width / 2, y - height / 2), width, height, facecolor=colour, edgecolor="0.3", lw=0.9))
    ax.text(x, y, text, ha="center", va="center", fontsize=8)
    return x, y


def inception_module(branches: Sequence[Sequence[str]], in_label: str, out_label: str) -> Figure:
    """GoogLeNet's Inception module: parallel branches (each a list of layer labels, top to
    bottom) from one input, concatenated along the channels."""
    fig, ax = plt.subplots(figsize=(9, 4.2))
    n = len(branches)
    xs = [2.6 * i for i in range(n)]
    centre = sum(xs) / n
    top = _box(ax, centre, 0, in_label, INPUT_COLOUR, width=3.4)
    depth = max(len(b) for b in branches)
    for x, branch in zip(xs, branches):
        previous = top
        for level, layer in enumerate(branch):
            node = _box(ax, x, 1.3 * (level + 1), layer, PALETTE[level % len(PALETTE)] + "80")
            _arrow(ax, (previous[0], previous[1] + 0.35), (node[0], node[1] - 0.35))
            previous = node
        bottom = 1.3 * depth + 0.35  # shorter branches run straight down to the deepest one's level
        ax.plot([x, x], [previous[1] + 0.35, bottom], color="0.3", lw=1.2)
        _arrow(ax, (x, bottom), (centre, 1.3 * (depth + 1) - 0.35))
    _box(ax, centre, 1.3 * (depth + 1), out_label, OUTPUT_COLOUR, width=4.2)
    ax.set_xlim(xs[0] - 1.5, xs[-1] + 1.5)
    ax.set_ylim(1.3 * (depth + 1) + 0.7, -0.7)
    ax.axis("off")
    fig.tight_layout()
    return fig


def residual_block(layers: Sequence[str]) -> Figure:
    """A residual block: the layers compute F(x) and a shortcut adds x before the last ReLU."""
    fig, ax = plt.subplots(figsize=(5, 4.8))
    previous = _box(ax, 0, 0, "x", INPUT_COLOUR)
    for level, layer in enumerate(layers, start=1):
        node = _box(ax, 0, 1.1 * level, layer, PALETTE[level % len(PALETTE)] + "80")
        _arrow(ax, (previous[0], previous[1] + 0.35), (node[0], node[1] - 0.35))
        previous = node
    y_add = 1.1 * (len(layers) + 1)
    ax.add_patch(plt.Circle((0, y_add), 0.3, facecolor="white", edgecolor="0.3"))
    ax.text(0, y_add, "+", ha="center", va="center", fontsize=14)
    _arrow(ax, (0, previous[1] + 0.35), (0, y_add - 0.3))
    ax.add_patch(FancyArrowPatch((1.1, 0), (0.3, y_add), connectionstyle="arc3,rad=-0.35", arrowstyle="-|>", mutation_scale=12, color="#c0392b", lw=1.4))
    ax.text(2.1, y_add / 2, label("identity\nshortcut x"), color="#c0392b", fontsize=8, va="center")
    end = _box(ax, 0, y_add + 1.0, "ReLU → y = ReLU(F(x) + x)", OUTPUT_COLOUR, width=3.6)
    _arrow(ax, (0, y_add + 0.3), (0, end[1] - 0.35))
    ax.text(-1.6, 1.1 * (len(layers) + 1) / 2, "F(x)", fontsize=10, ha="right", va="center")
    ax.set_xlim(-2.5, 3.2)
    ax.set_ylim(y_add + 1.6, -0.6)
    ax.axis("off")
    fig.tight_layout()
    return fig
