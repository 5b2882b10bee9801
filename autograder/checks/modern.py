"""Checks for 08-modern: batch normalisation (forward in both modes, running statistics,
backward), depthwise convolution, a residual block (forward and backward), the cost of
depthwise-separable convolutions, and ResNet-18 in PyTorch.

The NumPy functions are called through :meth:`Learner.call_numpy_only`: torch is imported in
this notebook (for ``build_resnet18``), so instead of refusing the import, a call into torch,
scipy.signal or scipy.ndimage while a NumPy function runs fails its check.

Expected values come from PyTorch in float64: ``F.batch_norm`` and ``nn.BatchNorm2d`` (its
running statistics over several steps), autograd, ``F.conv2d(groups=C)``, a residual block
written with ``F.conv2d``, ``FlopCounterMode`` for multiply-adds, and torchvision's ResNet-18
layout (:mod:`autograder.resnet`) filled with the same seeded weights as the learner's model
(:func:`~autograder.learner.fill_seeded_state`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from autograder.checks.backprop import _unpack
from autograder.compare import assert_equal, assert_matches, describe_call
from autograder.i18n import N_, _
from autograder.learner import Learner
from autograder.oracles import oracle
from autograder.registry import CheckFailed, check

ASSIGNMENT = "08-modern"

# (seed, N, C, H, W, momentum, eps); tiny batches (N = 1, or H = W = 1) included.
BN_TRAIN_CASES: tuple[tuple[int, int, int, int, int, float, float], ...] = (
    (801, 4, 3, 5, 6, 0.1, 1e-5),
    (802, 1, 2, 3, 4, 0.1, 1e-5),
    (803, 2, 5, 1, 1, 0.3, 1e-5),
    (804, 3, 4, 4, 4, 0.9, 1e-3),
)
BN_EVAL_CASES: tuple[tuple[int, int, int, int, int, float, float], ...] = (
    (811, 4, 3, 5, 6, 0.1, 1e-5),
    (812, 1, 2, 3, 3, 0.1, 1e-2),
)
# (seed, N, C, H, W, momentum, train steps before eval)
BN_MODULE_CASES: tuple[tuple[int, int, int, int, int, float, int], ...] = ((821, 4, 3, 6, 5, 0.1, 3), (822, 2, 2, 3, 3, 0.5, 2))
# (seed, N, C, H, W, eps); the last case has a constant channel, where a large eps decides.
BN_BACKWARD_CASES: tuple[tuple[int, int, int, int, int, float], ...] = (
    (831, 4, 3, 5, 6, 1e-5),
    (832, 1, 2, 3, 4, 1e-5),
    (833, 3, 2, 1, 1, 1e-5),
    (834, 2, 3, 4, 4, 0.5),
)
# (seed, N, C, H, W, k, stride, padding)
DEPTHWISE_CASES: tuple[tuple[int, int, int, int, int, int, int, int], ...] = (
    (841, 2, 3, 6, 7, 3, 1, 1),
    (842, 1, 4, 9, 8, 3, 2, 1),
    (843, 3, 2, 5, 5, 5, 1, 2),
    (844, 2, 1, 7, 6, 2, 2, 0),
)
# (seed, N, C, O, H, W, stride); O == C and stride 1: identity shortcut, else a 1x1 projection.
IDENTITY_BLOCK_CASES: tuple[tuple[int, int, int, int, int, int, int], ...] = ((851, 2, 3, 3, 6, 5, 1), (852, 1, 4, 4, 4, 4, 1))
PROJECTION_BLOCK_CASES: tuple[tuple[int, int, int, int, int, int, int], ...] = ((853, 2, 3, 5, 7, 6, 2), (854, 1, 2, 4, 5, 5, 1), (855, 2, 4, 4, 6, 6, 2))
# (c_in, c_out, k, h, w)
COST_CASES: tuple[tuple[int, int, int, int, int], ...] = ((32, 64, 3, 112, 112), (3, 8, 5, 10, 12), (512, 512, 3, 14, 14), (16, 4, 1, 7, 7))
COST_KEYS = ("params_standard", "params_separable", "macs_standard", "macs_separable")
RESNET18_PARAMETERS = 11_689_512
RESNET_INPUT = (2, 3, 64, 64)
RESNET_SEED = 808
RESNET_TOLERANCE = 1e-8


# ---------------------------------------------------------------------------------------------
# Inputs, shared by build_oracles and the checks


def bn_inputs(seed: int, n: int, c: int, h: int, w: int) -> tuple[np.ndarray, ...]:
    """x (N, C, H, W) with per-channel offsets and scales, gamma, beta, running mean, running var, dout."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)) * rng.uniform(0.5, 3.0, c)[:, None, None] + rng.uniform(-2, 2, c)[:, None, None]
    return x, rng.uniform(0.5, 1.5, c), rng.standard_normal(c), rng.standard_normal(c) * 0.5, rng.uniform(0.5, 2.0, c), rng.standard_normal((n, c, h, w))


def bn_backward_inputs(seed: int, n: int, c: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, gamma, __, __, __, dout = bn_inputs(seed, n, c, h, w)
    if seed == BN_BACKWARD_CASES[-1][0]:
        x[:, 0] = 1.25  # a constant channel: its variance is 0 and only eps keeps it finite
    return dout, x, gamma


def depthwise_inputs(seed: int, n: int, c: int, h: int, w: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c, h, w)), rng.standard_normal((c, 1, k, k)), rng.standard_normal(c)


def block_inputs(seed: int, n: int, c: int, o: int, h: int, w: int, stride: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """x, params (a projection shortcut when the shape changes or the case is a projection case), dout."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w))
    params = {
        "conv1.weight": rng.standard_normal((o, c, 3, 3)) * 0.4, "conv1.bias": rng.standard_normal(o) * 0.1,
        "conv2.weight": rng.standard_normal((o, o, 3, 3)) * 0.4, "conv2.bias": rng.standard_normal(o) * 0.1,
    }
    if any(seed == case[0] for case in PROJECTION_BLOCK_CASES):
        params["shortcut.weight"] = rng.standard_normal((o, c, 1, 1)) * 0.5
        params["shortcut.bias"] = rng.standard_normal(o) * 0.1
    ho, wo = (h - 1) // stride + 1, (w - 1) // stride + 1
    return x, params, rng.standard_normal((n, o, ho, wo))


# ---------------------------------------------------------------------------------------------
# Oracles


def build_oracles() -> dict[str, np.ndarray]:
    """PyTorch's answers in float64 for every case, and the wrong answers of classic mistakes."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    from autograder.learner import summarize_module
    from autograder.resnet import resnet18

    def tensor(a: np.ndarray, grad: bool = False) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float64, requires_grad=grad)

    def numpy(t: torch.Tensor) -> np.ndarray:
        return t.detach().numpy().copy()

    out: dict[str, np.ndarray] = {}
    for seed, n, c, h, w, momentum, eps in BN_TRAIN_CASES + BN_EVAL_CASES:
        x, gamma, beta, mean, var, __ = bn_inputs(seed, n, c, h, w)
        train = any(seed == case[0] for case in BN_TRAIN_CASES)
        rm, rv = tensor(mean), tensor(var)
        y = F.batch_norm(tensor(x), rm, rv, tensor(gamma), tensor(beta), training=train, momentum=momentum, eps=eps)
        out[f"bn.{seed}.out"], out[f"bn.{seed}.mean"], out[f"bn.{seed}.var"] = numpy(y), numpy(rm), numpy(rv)
        xt = tensor(x)
        if train:
            # Classic mistakes: the running variance from the biased batch variance, and the
            # momentum the other way round (Keras's convention).
            biased = xt.var(dim=(0, 2, 3), unbiased=False)
            out[f"bn.{seed}.wrong_biased_var"] = numpy((1 - momentum) * tensor(var) + momentum * biased)
            out[f"bn.{seed}.wrong_momentum_mean"] = numpy(momentum * tensor(mean) + (1 - momentum) * xt.mean(dim=(0, 2, 3)))
            out[f"bn.{seed}.wrong_eps_outside"] = numpy(
                (xt - xt.mean(dim=(0, 2, 3), keepdim=True)) / (biased.sqrt()[:, None, None] + eps) * tensor(gamma)[:, None, None] + tensor(beta)[:, None, None])
            for name, dims in (("instance", (2, 3)), ("axis0", (0,))):
                centred = xt - xt.mean(dim=dims, keepdim=True)
                normalised = centred / torch.sqrt(xt.var(dim=dims, unbiased=False, keepdim=True) + eps)
                out[f"bn.{seed}.wrong_{name}"] = numpy(normalised * tensor(gamma)[:, None, None] + tensor(beta)[:, None, None])
        else:
            out[f"bn.{seed}.wrong_batch_stats"] = numpy(F.batch_norm(xt, None, None, tensor(gamma), tensor(beta), training=True, eps=eps))

    for seed, n, c, h, w, momentum, steps in BN_MODULE_CASES:
        module = nn.BatchNorm2d(c, momentum=momentum).double()
        for step in range(steps + 1):
            x, *__ = bn_inputs(seed + 100 * step, n, c, h, w)
            module.train(step < steps)
            with torch.no_grad():
                y = module(tensor(x))
        out[f"bn_module.{seed}.out"] = numpy(y)
        out[f"bn_module.{seed}.mean"], out[f"bn_module.{seed}.var"] = numpy(module.running_mean), numpy(module.running_var)

    for seed, n, c, h, w, eps in BN_BACKWARD_CASES:
        dout, x, gamma = bn_backward_inputs(seed, n, c, h, w)
        xt, gt, bt = tensor(x, True), tensor(gamma, True), tensor(np.zeros(c), True)
        F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps).backward(tensor(dout))
        out[f"bn_backward.{seed}.dx"], out[f"bn_backward.{seed}.dgamma"], out[f"bn_backward.{seed}.dbeta"] = numpy(xt.grad), numpy(gt.grad), numpy(bt.grad)
        # Classic mistake: the batch statistics treated as constants.
        std = torch.sqrt(tensor(x).var(dim=(0, 2, 3), unbiased=False) + eps)
        out[f"bn_backward.{seed}.wrong_constant_stats"] = numpy(tensor(dout) * tensor(gamma)[:, None, None] / std[:, None, None])

    for seed, n, c, h, w, k, stride, padding in DEPTHWISE_CASES:
        x, wk, b = depthwise_inputs(seed, n, c, h, w, k)
        out[f"depthwise.{seed}.out"] = numpy(F.conv2d(tensor(x), tensor(wk), tensor(b), stride=stride, padding=padding, groups=c))
        out[f"depthwise.{seed}.wrong_flipped"] = numpy(F.conv2d(tensor(x), tensor(wk[:, :, ::-1, ::-1].copy()), tensor(b), stride=stride, padding=padding, groups=c))

    for seed, n, c, o, h, w, stride in IDENTITY_BLOCK_CASES + PROJECTION_BLOCK_CASES:
        x, params, dout = block_inputs(seed, n, c, o, h, w, stride)
        leaves = {key: tensor(value, True) for key, value in params.items()}
        xt = tensor(x, True)
        body, shortcut, y = _torch_block(xt, leaves, stride)
        y.backward(tensor(dout))
        out[f"block.{seed}.out"], out[f"block.{seed}.dx"] = numpy(y), numpy(xt.grad)
        for key, leaf in leaves.items():
            out[f"block.{seed}.d{key}"] = numpy(leaf.grad)
        out[f"block.{seed}.wrong_add_after_relu"] = numpy(F.relu(body) + shortcut)
        out[f"block.{seed}.wrong_no_final_relu"] = numpy(body + shortcut)
        out[f"block.{seed}.wrong_no_shortcut"] = numpy(F.relu(body))
        # Classic mistakes in backward: the shortcut's gradient forgotten; the final ReLU's mask forgotten.
        xt = tensor(x, True)
        body, shortcut, __ = _torch_block(xt, {k: v.detach() for k, v in leaves.items()}, stride)
        mask = (body + shortcut > 0).double().detach()
        (body * mask).backward(tensor(dout))
        out[f"block.{seed}.wrong_dx_no_shortcut"] = numpy(xt.grad)
        xt = tensor(x, True)
        body, shortcut, __ = _torch_block(xt, {k: v.detach() for k, v in leaves.items()}, stride)
        (body + shortcut).backward(tensor(dout))
        out[f"block.{seed}.wrong_dx_no_relu_mask"] = numpy(xt.grad)

    for i, (c_in, c_out, k, h, w) in enumerate(COST_CASES):
        standard = nn.Conv2d(c_in, c_out, k, padding=k // 2)
        separable = nn.Sequential(nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in), nn.Conv2d(c_in, c_out, 1))
        costs = {}
        for name, module in (("standard", standard), ("separable", separable)):
            costs[f"params_{name}"] = sum(p.numel() for p in module.parameters())
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                module(torch.zeros(1, c_in, h, w))
            costs[f"macs_{name}"] = counter.get_total_flops() // 2  # one multiply-add is two flops
        out[f"cost.{i}"] = np.array([costs[key] for key in COST_KEYS], dtype=np.int64)

    for classes in (1000, 10):
        summary = summarize_module(_skipped(resnet18, num_classes=classes))
        out[f"resnet18.{classes}.keys"] = np.array([key for key, __ in summary["state"]])
        out[f"resnet18.{classes}.shapes"] = np.array([_shape_text(shape) for __, shape in summary["state"]])
        out[f"resnet18.{classes}.parameters"] = np.array(summary["parameters"])
    assert int(out["resnet18.1000.parameters"]) == RESNET18_PARAMETERS
    out["resnet18.1000.output"] = summarize_module(_skipped(resnet18), RESNET_INPUT, RESNET_SEED)["output"]
    out["resnet18.wrong.add_after_relu"] = summarize_module(_skipped(resnet18, add_after_relu=True), RESNET_INPUT, RESNET_SEED)["output"]
    return out


def _skipped(build: Any, **options: Any) -> Any:
    """``build(**options)`` without torch's weight initialisation (fill_seeded_state, or
    nothing, overwrites the weights)."""
    from autograder.learner import initialization_skipped

    with initialization_skipped():
        return build(**options)


def _torch_block(x: Any, params: Mapping[str, Any], stride: int) -> tuple[Any, Any, Any]:
    """(conv2(relu(conv1(x))), shortcut(x), the block's output) in torch."""
    import torch.nn.functional as F

    body = F.conv2d(F.relu(F.conv2d(x, params["conv1.weight"], params["conv1.bias"], stride=stride, padding=1)), params["conv2.weight"], params["conv2.bias"], padding=1)
    shortcut = F.conv2d(x, params["shortcut.weight"], params["shortcut.bias"], stride=stride) if "shortcut.weight" in params else x
    return body, shortcut, F.relu(body + shortcut)


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(v)) for v in shape) + ")"


def _oracle(key: str) -> np.ndarray:
    return oracle(ASSIGNMENT, key)


# ---------------------------------------------------------------------------------------------
# Batch normalisation, forward

BIASED_VAR_HINT = N_("the running variance is updated with the unbiased batch variance (divide by m - 1, m = N * H * W), as PyTorch does; the output is normalised with the biased one (divide by m).")
MOMENTUM_HINT = N_("PyTorch's momentum weighs the new batch: new = (1 - momentum) * old + momentum * batch statistic.")
EPS_HINT = N_("eps goes inside the square root: (x - mean) / sqrt(var + eps).")
INSTANCE_HINT = N_("that normalises each image and channel over (H, W) only (instance norm); batch norm takes one mean and variance per channel over axes (0, 2, 3): the batch and all positions.")
AXIS0_HINT = N_("that normalises over the batch axis only, one mean per (C, H, W) position; batch norm pools axes (0, 2, 3) into one mean and variance per channel.")
EVAL_HINT = N_("in eval mode (train=False) batch norm uses the running mean and variance, not the batch's statistics.")


def _bn_call(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray, train: bool, momentum: float, eps: float) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    args = (x, gamma, beta, mean, var, train)
    kwargs = {"momentum": momentum, "eps": eps}
    return describe_call("batchnorm2d_forward", *args, **kwargs), args, kwargs


def _bn_result(learner: Learner, call: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, Any]:
    return _unpack(learner.call_numpy_only("batchnorm2d_forward", *args, **kwargs), ("out", "new_running_mean", "new_running_var"), call)


@check("08.batchnorm2d_forward.train", N_("batchnorm2d_forward in training mode matches F.batch_norm, running statistics included"), points=2)
def test_batchnorm2d_forward_train(learner: Learner) -> None:
    for seed, n, c, h, w, momentum, eps in BN_TRAIN_CASES:
        x, gamma, beta, mean, var, __ = bn_inputs(seed, n, c, h, w)
        call, args, kwargs = _bn_call(x, gamma, beta, mean, var, True, momentum, eps)
        out, new_mean, new_var = _bn_result(learner, call, args, kwargs)
        assert_matches(out, _oracle(f"bn.{seed}.out"), call=call, what="out", hints=[
            (_(EPS_HINT), _oracle(f"bn.{seed}.wrong_eps_outside")), (_(INSTANCE_HINT), _oracle(f"bn.{seed}.wrong_instance")), (_(AXIS0_HINT), _oracle(f"bn.{seed}.wrong_axis0"))],
            shape_hints=[((c,), _("return the normalised x (N, C, H, W) first, then the running mean and variance."))])
        assert_matches(new_mean, _oracle(f"bn.{seed}.mean"), call=call, what="new_running_mean", hints=[(_(MOMENTUM_HINT), _oracle(f"bn.{seed}.wrong_momentum_mean"))])
        assert_matches(new_var, _oracle(f"bn.{seed}.var"), call=call, what="new_running_var", hints=[(_(BIASED_VAR_HINT), _oracle(f"bn.{seed}.wrong_biased_var"))])


@check("08.batchnorm2d_forward.eval", N_("batchnorm2d_forward in eval mode uses the running statistics and leaves them unchanged"), points=1)
def test_batchnorm2d_forward_eval(learner: Learner) -> None:
    for seed, n, c, h, w, momentum, eps in BN_EVAL_CASES:
        x, gamma, beta, mean, var, __ = bn_inputs(seed, n, c, h, w)
        call, args, kwargs = _bn_call(x, gamma, beta, mean, var, False, momentum, eps)
        out, new_mean, new_var = _bn_result(learner, call, args, kwargs)
        assert_matches(out, _oracle(f"bn.{seed}.out"), call=call, what="out", hints=[(_(EVAL_HINT), _oracle(f"bn.{seed}.wrong_batch_stats"))])
        assert_matches(new_mean, _oracle(f"bn.{seed}.mean"), call=call, what="new_running_mean")
        assert_matches(new_var, _oracle(f"bn.{seed}.var"), call=call, what="new_running_var")


@check("08.batchnorm2d_forward.module", N_("batchnorm2d_forward reproduces nn.BatchNorm2d over several training steps, then in eval mode"), points=2)
def test_batchnorm2d_forward_module(learner: Learner) -> None:
    for seed, n, c, h, w, momentum, steps in BN_MODULE_CASES:
        mean, var, gamma, beta = np.zeros(c), np.ones(c), np.ones(c), np.zeros(c)  # a fresh nn.BatchNorm2d
        for step in range(steps + 1):
            x, *__ = bn_inputs(seed + 100 * step, n, c, h, w)
            call = _("{steps} training steps of batchnorm2d_forward(..., momentum={momentum}) from a fresh nn.BatchNorm2d({channels}), then one in eval mode").format(
                steps=steps, momentum=momentum, channels=c)
            out, mean, var = _bn_result(learner, call, *_bn_call(x, gamma, beta, mean, var, step < steps, momentum, 1e-5)[1:])
        assert_matches(mean, _oracle(f"bn_module.{seed}.mean"), call=call, what=_("the running mean"))
        assert_matches(var, _oracle(f"bn_module.{seed}.var"), call=call, what=_("the running variance"))
        assert_matches(out, _oracle(f"bn_module.{seed}.out"), call=call, what=_("the eval-mode output"))


# ---------------------------------------------------------------------------------------------
# Batch normalisation, backward

CONSTANT_STATS_HINT = N_("the batch mean and variance depend on every x too: dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps), means over (0, 2, 3).")


@check("08.batchnorm2d_backward.gradients", N_("batchnorm2d_backward matches autograd through F.batch_norm (training mode)"), points=3)
def test_batchnorm2d_backward_gradients(learner: Learner) -> None:
    for seed, n, c, h, w, eps in BN_BACKWARD_CASES:
        dout, x, gamma = bn_backward_inputs(seed, n, c, h, w)
        call = describe_call("batchnorm2d_backward", dout, x, gamma, eps=eps)
        dx, dgamma, dbeta = _unpack(learner.call_numpy_only("batchnorm2d_backward", dout, x, gamma, eps=eps), ("dx", "dgamma", "dbeta"), call)
        summed = _("sum over the batch and all positions, axes (0, 2, 3): one value per channel.")
        wrong_shapes = [(shape, summed) for shape in ((1, c, 1, 1), (c, h, w), (n, c), (n, c, 1, 1))]
        assert_matches(dbeta, _oracle(f"bn_backward.{seed}.dbeta"), call=call, what="dbeta", shape_hints=wrong_shapes)
        assert_matches(dgamma, _oracle(f"bn_backward.{seed}.dgamma"), call=call, what="dgamma", shape_hints=wrong_shapes)
        assert_matches(dx, _oracle(f"bn_backward.{seed}.dx"), call=call, what="dx", tolerance=1e-8, hints=[(_(CONSTANT_STATS_HINT), _oracle(f"bn_backward.{seed}.wrong_constant_stats"))])


# ---------------------------------------------------------------------------------------------
# Depthwise convolution


@check("08.depthwise_conv2d_forward.values", N_("depthwise_conv2d_forward matches F.conv2d(..., groups=C)"), points=2)
def test_depthwise_conv2d_forward_values(learner: Learner) -> None:
    for seed, n, c, h, w, k, stride, padding in DEPTHWISE_CASES:
        x, wk, b = depthwise_inputs(seed, n, c, h, w, k)
        call = describe_call("depthwise_conv2d_forward", x, wk, b, stride=stride, padding=padding)
        expected = _oracle(f"depthwise.{seed}.out")
        got = learner.call_numpy_only("depthwise_conv2d_forward", x, wk, b, stride=stride, padding=padding)
        assert_matches(got, expected, call=call, hints=[(_("like F.conv2d, slide the kernel without flipping it (cross-correlation)."), _oracle(f"depthwise.{seed}.wrong_flipped"))],
                       shape_hints=[((n, 1) + expected.shape[2:], _("each channel keeps its own output channel: do not sum over channels."))])


# ---------------------------------------------------------------------------------------------
# Residual block

ADD_AFTER_RELU_HINT = N_("add the shortcut before the last ReLU: relu(conv2(relu(conv1(x))) + shortcut(x)).")
BLOCK_HINTS = (
    ("add_after_relu", ADD_AFTER_RELU_HINT),
    ("no_final_relu", N_("the block ends with a ReLU after the addition.")),
    ("no_shortcut", N_("the shortcut is missing: add x (or the 1x1 projection of x) before the last ReLU.")),
)
SHORTCUT_GRADIENT_HINT = N_("dx has two paths: through the convolutions and through the shortcut; add the shortcut's gradient (dz itself for the identity).")
RELU_MASK_HINT = N_("the final ReLU gates the gradient: dz = dout * (conv2(...) + shortcut(x) > 0) before it splits into the two paths.")


def _block_forward_check(learner: Learner, cases: Sequence[tuple[int, ...]]) -> None:
    for seed, n, c, o, h, w, stride in cases:
        x, params, __ = block_inputs(seed, n, c, o, h, w, stride)
        call = describe_call("residual_block_forward", x, params, stride=stride)
        got = learner.call_numpy_only("residual_block_forward", x, params, stride=stride)
        hints = [(_(text), _oracle(f"block.{seed}.wrong_{key}")) for key, text in BLOCK_HINTS]
        assert_matches(got, _oracle(f"block.{seed}.out"), call=call, hints=hints)


def _block_backward_check(learner: Learner, cases: Sequence[tuple[int, ...]]) -> None:
    for seed, n, c, o, h, w, stride in cases:
        x, params, dout = block_inputs(seed, n, c, o, h, w, stride)
        call = describe_call("residual_block_backward", dout, x, params, stride=stride)
        dx, grads = _unpack(learner.call_numpy_only("residual_block_backward", dout, x, params, stride=stride), ("dx", "grads"), call)
        assert_matches(dx, _oracle(f"block.{seed}.dx"), call=call, what="dx", hints=[
            (_(SHORTCUT_GRADIENT_HINT), _oracle(f"block.{seed}.wrong_dx_no_shortcut")), (_(RELU_MASK_HINT), _oracle(f"block.{seed}.wrong_dx_no_relu_mask"))])
        if not isinstance(grads, dict) or sorted(grads) != sorted(params):
            keys = sorted(grads) if isinstance(grads, dict) else type(grads).__name__
            raise CheckFailed(_("{call}: grads must be a dict with the keys of params {expected}, got {keys}.").format(call=call, expected=sorted(params), keys=keys))
        for key in params:
            assert_matches(grads[key], _oracle(f"block.{seed}.d{key}"), call=call, what=f"grads[{key!r}]")


@check("08.residual_block_forward.identity", N_("residual_block_forward with an identity shortcut matches torch"), points=1)
def test_residual_block_forward_identity(learner: Learner) -> None:
    _block_forward_check(learner, IDENTITY_BLOCK_CASES)


@check("08.residual_block_forward.projection", N_("residual_block_forward with a strided 1x1 projection shortcut matches torch"), points=2)
def test_residual_block_forward_projection(learner: Learner) -> None:
    _block_forward_check(learner, PROJECTION_BLOCK_CASES)


@check("08.residual_block_backward.identity", N_("residual_block_backward with an identity shortcut matches autograd"), points=2)
def test_residual_block_backward_identity(learner: Learner) -> None:
    _block_backward_check(learner, IDENTITY_BLOCK_CASES)


@check("08.residual_block_backward.projection", N_("residual_block_backward with a projection shortcut matches autograd"), points=2)
def test_residual_block_backward_projection(learner: Learner) -> None:
    _block_backward_check(learner, PROJECTION_BLOCK_CASES)


# ---------------------------------------------------------------------------------------------
# Cost of a depthwise-separable convolution


def _cost_hints(c_in: int, c_out: int, k: int, h: int, w: int) -> dict[str, dict[int, str]]:
    no_bias = _("count the biases too: one per output channel of each convolution.")
    return {
        "params_standard": {c_out * c_in * k * k: no_bias},
        "params_separable": {c_in * k * k + c_out * c_in: no_bias, c_in * k * k + c_out * c_in + c_out: _("the depthwise convolution has a bias per channel too."),
                             c_in * k * k + c_in: _("add the pointwise (1x1) convolution: c_out * c_in weights and c_out biases.")},
        "macs_standard": {h * w * (c_out * c_in * k * k + c_out): _("multiply-adds count weights times output positions; biases are additions, not counted.")},
        "macs_separable": {h * w * c_in * k * k: _("add the pointwise convolution's h * w * c_in * c_out multiply-adds."),
                           h * w * (c_in * k * k + c_in + c_out * c_in + c_out): _("multiply-adds count weights times output positions; biases are not counted.")},
    }


@check("08.separable_conv_cost.values", N_("separable_conv_cost gives PyTorch's parameter counts and FlopCounterMode's multiply-adds"), points=2)
def test_separable_conv_cost_values(learner: Learner) -> None:
    for i, (c_in, c_out, k, h, w) in enumerate(COST_CASES):
        call = describe_call("separable_conv_cost", c_in, c_out, k, h, w)
        got = learner.call_numpy_only("separable_conv_cost", c_in, c_out, k, h, w)
        if not isinstance(got, dict) or sorted(got) != sorted(COST_KEYS):
            keys = sorted(got) if isinstance(got, dict) else type(got).__name__
            raise CheckFailed(_("{call}: must return a dict with the keys {expected}, got {keys}.").format(call=call, expected=list(COST_KEYS), keys=keys))
        hints = _cost_hints(c_in, c_out, k, h, w)
        for key, expected in zip(COST_KEYS, _oracle(f"cost.{i}")):
            value = got[key]
            value = int(value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
            assert_equal(value, int(expected), call=call, what=f"[{key!r}]", hint=hints[key].get(value) if isinstance(value, int) else None)


# ---------------------------------------------------------------------------------------------
# ResNet-18 in PyTorch


def _resnet_summary(learner: Learner, num_classes: int, forward: bool = False) -> tuple[dict[str, Any], str]:
    call = f"build_resnet18(num_classes={num_classes})"
    options = {"input_shape": RESNET_INPUT, "weights_seed": RESNET_SEED} if forward else {}
    summary = learner.call_and_summarize("build_resnet18", num_classes=num_classes, **options)
    if not summary.get("is_module"):
        raise CheckFailed(_("{call}: returned a {type}, expected a torch.nn.Module.").format(call=call, type=summary.get("type")))
    return summary, call


def _state_hint(missing: Sequence[str], extra: Sequence[str]) -> str:
    if any(".downsample." in key for key in missing):
        return _("the first block of layer2, layer3 and layer4 changes shape; its shortcut is `downsample`, an nn.Sequential of a 1x1 convolution "
                 "with stride 2 (no bias) and a BatchNorm2d.")
    if any(key.endswith(".bias") and ".conv" in key or key.startswith("conv1.bias") for key in extra):
        return _("convolutions followed by batch norm have no bias (bias=False): BN's shift takes its place.")
    return _("name the modules as torchvision does: conv1, bn1, relu, maxpool, layer1..layer4 (blocks with conv1, bn1, conv2, bn2, downsample), avgpool, fc.")


def _listed(keys: Sequence[str]) -> str:
    """The first three keys, and how many more."""
    text = ", ".join(keys[:3])
    return _("{keys} and {more} more").format(keys=text, more=len(keys) - 3) if len(keys) > 3 else text


@check("08.build_resnet18.structure", N_("build_resnet18 has torchvision's state_dict keys and shapes (11,689,512 parameters)"), points=3)
def test_build_resnet18_structure(learner: Learner) -> None:
    for classes in (1000, 10):
        summary, call = _resnet_summary(learner, classes)
        keys = [key for key, __ in summary["state"]]
        expected_keys = _oracle(f"resnet18.{classes}.keys").tolist()
        missing = [key for key in expected_keys if key not in keys]
        extra = [key for key in keys if key not in expected_keys]
        if missing or extra:
            listed = [_("missing {keys}").format(keys=_listed(missing))] if missing else []
            listed += [_("unexpected {keys}").format(keys=_listed(extra))] if extra else []
            raise CheckFailed(_("{call}: its state_dict keys differ from torchvision's resnet18: {listed}. Hint: {hint}").format(
                call=call, listed="; ".join(listed), hint=_state_hint(missing, extra)))
        shapes = dict((key, _shape_text(shape)) for key, shape in summary["state"])
        for key, expected in zip(expected_keys, _oracle(f"resnet18.{classes}.shapes").tolist()):
            assert_equal(shapes[key], expected, call=call, what=_("the shape of state_dict[{key}]").format(key=repr(key)))
        assert_equal(summary["parameters"], _int(f"resnet18.{classes}.parameters"), call=call, what=_("the parameter count"))


@check("08.build_resnet18.forward", N_("build_resnet18's forward pass matches torchvision's ResNet-18 with the same weights"), points=2)
def test_build_resnet18_forward(learner: Learner) -> None:
    summary, call = _resnet_summary(learner, 1000, forward=True)
    call = _("{call} in eval mode with seeded weights on a seeded input {shape}").format(call=call, shape=RESNET_INPUT)
    assert_matches(summary["output"], _oracle("resnet18.1000.output"), call=call, what=_("the logits"), tolerance=RESNET_TOLERANCE,
                   hints=[(_(ADD_AFTER_RELU_HINT), _oracle("resnet18.wrong.add_after_relu"))])


def _int(key: str) -> int:
    return int(_oracle(key))


# ==== HIDDEN CHECKS: instructor only; the student release ends this module above this line ====
# Official grading (autograder.classroom.official) adds these to the public checks; their
# oracles live in oracle_data/hidden/, which the student release leaves out too.

HIDDEN_DEPTHWISE_CASE = (891, 2, 5, 13, 11, 5, 2, 2)  # seed, N, C, H, W, k, stride, padding


def build_hidden_oracles() -> dict[str, np.ndarray]:
    """F.conv2d(..., groups=C)'s answer (float64) for the hidden depthwise case."""
    import torch
    import torch.nn.functional as F

    seed, n, c, h, w, k, stride, padding = HIDDEN_DEPTHWISE_CASE
    x, wk, b = (torch.from_numpy(a) for a in depthwise_inputs(seed, n, c, h, w, k))
    return {"depthwise.hidden.out": F.conv2d(x, wk, b, stride=stride, padding=padding, groups=c).numpy()}


@check("08.depthwise_conv2d_forward.hidden_large", N_("depthwise_conv2d_forward with a 5x5 kernel, stride 2 and padding 2 on five channels"), points=1, hidden=True)
def test_depthwise_conv2d_forward_hidden_large(learner: Learner) -> None:
    seed, n, c, h, w, k, stride, padding = HIDDEN_DEPTHWISE_CASE
    x, wk, b = depthwise_inputs(seed, n, c, h, w, k)
    got = learner.call_numpy_only("depthwise_conv2d_forward", x, wk, b, stride=stride, padding=padding)
    assert_matches(got, _oracle("depthwise.hidden.out"), call=describe_call("depthwise_conv2d_forward", x, wk, b, stride=stride, padding=padding))
