"""Layer tables for the book: describe a PyTorch model's layers, their output shapes, parameters
and multiply-adds, from one forward pass (on the "meta" device when the model lives there)."""

from __future__ import annotations

import torch
from torch import nn

from autograder.i18n import label

SKIPPED = (nn.ReLU, nn.Dropout, nn.Flatten)


def n_params(module: nn.Module) -> int:
    """Number of parameters (weights and biases) of ``module``."""
    return sum(p.numel() for p in module.parameters())


def label_if(template: str, translated: bool) -> str:
    """``template`` in the book's language when ``translated`` (through :func:`label`, which
    marks it for the catalog too), else as written: the English descriptions are data the
    chapters compute with (``r[0].startswith("conv")``), the translated ones are drawn."""
    return label(template) if translated else template


def describe(m: nn.Module, translated: bool = False) -> str:
    """A short description of a layer, e.g. 'conv 11×11, 3→64, stride 4, padding 2' (in the
    book's language when ``translated``)."""
    if isinstance(m, nn.Conv2d):
        text = label_if("conv {kh}×{kw}, {c_in}→{c_out}", translated).format(kh=m.kernel_size[0], kw=m.kernel_size[1], c_in=m.in_channels, c_out=m.out_channels)
        text += label_if(", stride {stride}", translated).format(stride=m.stride[0]) if m.stride[0] > 1 else ""
        text += label_if(", padding {padding}", translated).format(padding=m.padding[0]) if m.padding[0] else ""
        return text + (label_if(", {groups} groups", translated).format(groups=m.groups) if m.groups > 1 else "")
    if isinstance(m, nn.MaxPool2d):
        return label_if("max pool {k}×{k}, stride {stride}", translated).format(k=m.kernel_size, stride=m.stride)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return label_if("adaptive average pool to {size}", translated).format(size=m.output_size)
    if isinstance(m, nn.Linear):
        return label_if("linear {n_in}→{n_out}", translated).format(n_in=m.in_features, n_out=m.out_features)
    return type(m).__name__


def layer_rows(model: nn.Module, input_shape: tuple[int, ...], translated: bool = False) -> list[tuple[str, tuple[int, ...], int, int]]:
    """``(description, output shape, parameters, multiply-adds)`` of each leaf layer of ``model``
    (ReLU, dropout and flatten left out) for one input of ``input_shape``, e.g. (C, H, W);
    descriptions in English unless ``translated``."""
    rows: list[tuple[str, tuple[int, ...], int, int]] = []

    def record(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        if isinstance(module, SKIPPED):
            return
        if isinstance(module, nn.Conv2d):  # one multiply-add per weight per output position
            macs = module.weight.numel() * output.shape[2] * output.shape[3]
        elif isinstance(module, nn.Linear):
            macs = module.weight.numel()
        else:
            macs = 0
        rows.append((describe(module, translated), tuple(output.shape[1:]), n_params(module), macs))

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return rows


def layer_table(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, list[tuple[str, tuple[int, ...], int, int]]]:
    """A Markdown table of :func:`layer_rows` with the totals, in the book's language, and the
    rows themselves (descriptions in English, to compute with)."""
    rows = layer_rows(model, input_shape)
    shown = layer_rows(model, input_shape, translated=True)
    total_params, total_macs = sum(r[2] for r in rows), sum(r[3] for r in rows)
    lines = [label("| layer | output shape | parameters | multiply-adds |"), "|---|---|---:|---:|"]
    lines += [f"| {d} | {' × '.join(map(str, s))} | {p:,} | {m:,} |" for d, s, p, m in shown]
    lines.append(label("| **total** | | **{params}** | **{macs}** |").format(params=f"{total_params:,}", macs=f"{total_macs:,}"))
    return "\n".join(lines), rows


def stages(model: nn.Module, input_shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """``(label, output shape)`` per layer, the input first, for a block diagram
    (:func:`autograder.book.figures.architecture`)."""
    return [(label("input"), tuple(input_shape))] + [(d.replace(", ", "\n"), s) for d, s, _, _ in layer_rows(model, input_shape, translated=True)]
