"""Checks for 06-training: a small CNN trained in NumPy with the learner's own layers.

The learner's ``model_forward``, ``model_backward`` and ``train`` compose layers they wrote in
02-04. Every check runs them with the grader's stand-ins for those layers swapped in (NumPy
formulations in :mod:`autograder.isolation.standins`, not the course's solutions; one helper,
:func:`_call`, the only place that asks for the swap), so a mistake in 02-04 costs points there only. :func:`own_layers_report` (not graded) says how the learner's *own* layers
do in the network's gradients.

Expected values come from PyTorch in float64: ``F.conv2d`` ... ``F.cross_entropy`` for the
logits, autograd for the gradients, ``torch.optim.SGD`` for the update and for a twenty-step
training run on the same batches and dropout masks. Grading reads them from the oracle
fixture and never imports torch. The accuracy gate trains the learner's network on MNIST.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from autograder.checks import progress
from autograder.compare import assert_matches, describe_call
from autograder.i18n import N_, _
from autograder.learner import Learner, SeededRng
from autograder.oracles import oracle
from autograder.own_layers import layer_sources, one_layer_at_a_time
from autograder.registry import CheckFailed, check

ASSIGNMENT = "06-training"

# Where the network's layers come from; the grader swaps in its stand-ins for them.
LAYER_SOURCES = layer_sources(
    "conv2d_forward", "maxpool2d_forward", "relu_forward", "relu_backward", "linear_forward", "linear_backward",
    "softmax_cross_entropy", "maxpool2d_backward", "conv2d_backward",
)
PARAM_KEYS = ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
CHANNELS, HIDDEN, CLASSES = (1, 8, 16), 64, 10
DROPOUT = 0.25
PARAMS_SEED, DROPOUT_SEED = 6, 11
BATCH_IMAGES = 8
PREDICT_IMAGES = 64
INIT_CASES: tuple[tuple[tuple[int, int, int], int, int], ...] = ((CHANNELS, HIDDEN, CLASSES), ((3, 4, 6), 32, 5))
TOLERANCE = 1e-8

# (case, lr, momentum, weight_decay)
SGD_CASES: tuple[tuple[str, float, float, float], ...] = (("plain", 0.1, 0.9, 0.0), ("weight_decay", 0.05, 0.8, 0.1))
# Twenty steps: 2 epochs of 80 images in batches of 8.
TRAJECTORY = {"images": 80, "epochs": 2, "batch_size": 8, "lr": 0.05, "momentum": 0.9, "weight_decay": 0.01, "dropout": DROPOUT, "seed": 7}
TRAJECTORY_STEPS = 20

# The accuracy gate: the learner's train, a fixed budget, the first images of MNIST.
GATE_TRAIN_IMAGES, GATE_TEST_IMAGES = 6000, 2000
GATE_EPOCHS, GATE_BATCH, GATE_PEAK_LR, GATE_MOMENTUM, GATE_WEIGHT_DECAY, GATE_DROPOUT = 5, 32, 0.03, 0.9, 1e-4, 0.1
GATE_CHUNK = 500  # images per call of train: each call stays inside the sandbox's 10 s per-call limit even on a busy machine
GATE_SEED = 2026
GATE_ACCURACY = 0.95
GATE_TIME_LIMIT = 600.0  # seconds of training, all calls together: catches image-by-image loops, not a busy machine
GATE_SOLUTION_SECONDS = N_("58 s with the grader's stand-in layers on the course's 2-core machine while it was busy (load 6), less when idle")  # measured


def gate_lr(call: int, calls: int) -> float:
    """The gate's learning rate for its ``call``-th call of train (of ``calls``): a fifth of the
    peak for the first (warm-up), then falling linearly from the peak to 0.0005."""
    return GATE_PEAK_LR * 0.2 if call == 0 else GATE_PEAK_LR * (1 - call / calls) + 0.0005


GATE_DESCRIPTION = f"""
## 5. The accuracy gate

The grader trains your network with your functions (the grader's stand-in layers swapped in):

* `params = init_params(np.random.default_rng(seed))` with the default sizes;
* the first {GATE_TRAIN_IMAGES:,} MNIST training images, normalized, for {GATE_EPOCHS} epochs: each
  epoch the grader shuffles them and hands them to your `train` {GATE_CHUNK:,} at a time
  (`epochs=1, batch_size={GATE_BATCH}, momentum={GATE_MOMENTUM}, weight_decay={GATE_WEIGHT_DECAY},
  dropout={GATE_DROPOUT}`), so the velocity restarts every {GATE_CHUNK:,} images; the learning
  rate warms up on the first call ({GATE_PEAK_LR * 0.2:g}), jumps to {GATE_PEAK_LR:g} and then falls
  linearly towards 0.0005; it prints a progress line after each call;
* then `predict` on the first {GATE_TEST_IMAGES:,} test images, which must be at least
  {GATE_ACCURACY:.0%} right.

**Time limit: {GATE_TIME_LIMIT:.0f} s** of training in all, on one CPU thread (the course's
solution needs {GATE_SOLUTION_SECONDS}). A loop over single images instead of mini-batches, or
layers far slower than the course's, will not fit.
"""


# ---------------------------------------------------------------------------------------------
# Inputs


def mnist_subset(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` images of ``split`` ("train" or "test"), normalized, float64, (N, 1, 28, 28),
    and their int64 labels."""
    from autograder.data import load_mnist, normalize

    images, labels = load_mnist(split)
    return normalize(images[:count]).astype(np.float64), labels[:count].astype(np.int64)


def reference_params(seed: int = PARAMS_SEED) -> dict[str, np.ndarray]:
    """Fixed float64 parameters of the default network (He-scaled weights, small nonzero biases,
    so a forgotten bias shows)."""
    rng = np.random.default_rng(seed)
    shapes = parameter_shapes(CHANNELS, HIDDEN, CLASSES)
    params = {}
    for key in PARAM_KEYS:
        shape = shapes[key]
        if key.endswith(".weight"):
            params[key] = rng.standard_normal(shape) * np.sqrt(2.0 / int(np.prod(shape[1:])))
        else:
            params[key] = rng.uniform(-0.1, 0.1, shape)
    return params


def parameter_shapes(channels: Sequence[int], hidden: int, classes: int) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape for 28 x 28 inputs."""
    c, c1, c2 = channels
    return {
        "conv1.weight": (c1, c, 3, 3), "conv1.bias": (c1,),
        "conv2.weight": (c2, c1, 3, 3), "conv2.bias": (c2,),
        "fc1.weight": (hidden, c2 * 7 * 7), "fc1.bias": (hidden,),
        "fc2.weight": (classes, hidden), "fc2.bias": (classes,),
    }


def dropout_keep(rng: np.random.Generator, shape: tuple[int, ...], p: float = DROPOUT) -> np.ndarray:
    """The inverted-dropout multiplier the assignment prescribes: ``(rng.random(shape) >= p) / (1 - p)``."""
    return (rng.random(shape) >= p) / (1.0 - p)


# ---------------------------------------------------------------------------------------------
# Oracles


def build_oracles() -> dict[str, np.ndarray]:
    """Logits, autograd gradients, ``torch.optim.SGD`` steps and a twenty-step training run in
    float64, and the wrong answers of classic mistakes."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: more threads only wait for each other (30x slower on a busy machine)
    try:
        return _build_oracles()
    finally:
        torch.set_num_threads(threads)


def _build_oracles() -> dict[str, np.ndarray]:
    import torch

    out: dict[str, np.ndarray] = {}
    params = reference_params()
    x, y = mnist_subset("train", BATCH_IMAGES)
    mask = dropout_keep(np.random.default_rng(DROPOUT_SEED), (BATCH_IMAGES, HIDDEN))

    with torch.no_grad():
        out["forward.eval"] = torch_forward(_tensors(params), torch.from_numpy(x)).numpy()
        out["forward.dropout"] = torch_forward(_tensors(params), torch.from_numpy(x), torch.from_numpy(mask)).numpy()
        unscaled = torch.from_numpy(mask * (1.0 - DROPOUT))
        out["forward.wrong.unscaled"] = torch_forward(_tensors(params), torch.from_numpy(x), unscaled).numpy()
        x_predict, __ = mnist_subset("test", PREDICT_IMAGES)
        out["predict.labels"] = torch_forward(_tensors(params), torch.from_numpy(x_predict)).argmax(dim=1).numpy().astype(np.int64)

    for name, mask_in_backward in (("backward", True), ("backward.wrong.no_mask", False)):
        tensors = _tensors(params, requires_grad=True)
        logits = torch_forward(tensors, torch.from_numpy(x), torch.from_numpy(mask), mask_in_backward=mask_in_backward)
        logits.retain_grad()
        torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
        if mask_in_backward:
            out["backward.dlogits"] = logits.grad.numpy().copy()
        for key in PARAM_KEYS:
            out[f"{name}.{key}"] = tensors[key].grad.numpy().copy()

    for case, lr, momentum, weight_decay in SGD_CASES:
        steps = torch_sgd_steps(_sgd_params(), _sgd_grads(), lr, momentum, weight_decay)
        for step, values in enumerate(steps, start=1):
            for key, value in values.items():
                out[f"sgd.{case}.step{step}.{key}"] = value
        for mistake in SGD_MISTAKES:
            for step, values in enumerate(numpy_sgd_steps(_sgd_params(), _sgd_grads(), lr, momentum, weight_decay, mistake), start=1):
                for key, value in values.items():
                    out[f"sgd.{case}.wrong.{mistake}.step{step}.{key}"] = value

    out["trajectory.loss"] = torch_trajectory()
    for mistake in TRAJECTORY_MISTAKES:
        out[f"trajectory.wrong.{mistake}"] = torch_trajectory(mistake)
    return out


def _tensors(params: Mapping[str, np.ndarray], requires_grad: bool = False) -> dict[str, Any]:
    import torch

    return {key: torch.tensor(value, dtype=torch.float64, requires_grad=requires_grad) for key, value in params.items()}


def torch_forward(tensors: Mapping[str, Any], x: Any, keep: Any = None, mask_in_backward: bool = True) -> Any:
    """The assignment's network in PyTorch: conv-relu-pool twice, fc1-relu, dropout with the
    multiplier ``keep`` (None: evaluation mode), fc2. ``mask_in_backward=False`` lets the
    gradient through dropout unmasked (a classic mistake) while the values stay right."""
    import torch
    import torch.nn.functional as F

    h = F.max_pool2d(F.relu(F.conv2d(x, tensors["conv1.weight"], tensors["conv1.bias"], padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, tensors["conv2.weight"], tensors["conv2.bias"], padding=1)), 2)
    h = F.relu(F.linear(torch.flatten(h, 1), tensors["fc1.weight"], tensors["fc1.bias"]))
    if keep is not None:
        h = h * keep if mask_in_backward else h + (h * keep - h).detach()
    return F.linear(h, tensors["fc2.weight"], tensors["fc2.bias"])


def _sgd_params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(21)
    return {"fc.weight": rng.standard_normal((3, 4)), "fc.bias": rng.standard_normal(3)}


def _sgd_grads() -> list[dict[str, np.ndarray]]:
    """Two steps' gradients."""
    rng = np.random.default_rng(22)
    return [{"fc.weight": rng.standard_normal((3, 4)), "fc.bias": rng.standard_normal(3)} for __ in range(2)]


def torch_sgd_steps(params: Mapping[str, np.ndarray], grads: Sequence[Mapping[str, np.ndarray]], lr: float, momentum: float, weight_decay: float) -> list[dict[str, np.ndarray]]:
    """Parameters after each step of ``torch.optim.SGD`` fed the given gradients; weight decay
    on the weights only (the biases in a group with ``weight_decay=0``)."""
    import torch

    tensors = _tensors(params)
    weights = [t for key, t in tensors.items() if key.endswith(".weight")]
    biases = [t for key, t in tensors.items() if not key.endswith(".weight")]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": weight_decay}, {"params": biases, "weight_decay": 0.0}], lr=lr, momentum=momentum)
    steps = []
    for step_grads in grads:
        for key, tensor in tensors.items():
            tensor.grad = torch.from_numpy(step_grads[key].copy())
        optimizer.step()
        steps.append({key: tensor.detach().numpy().copy() for key, tensor in tensors.items()})
    return steps


SGD_MISTAKES = ("decay_after_momentum", "decay_on_biases", "no_first_step_buffer")


def numpy_sgd_steps(params: Mapping[str, np.ndarray], grads: Sequence[Mapping[str, np.ndarray]], lr: float, momentum: float, weight_decay: float, mistake: str) -> list[dict[str, np.ndarray]]:
    """Parameters after each step of an SGD with one classic mistake (see :data:`SGD_MISTAKES`)."""
    params = dict(params)
    velocity: dict[str, np.ndarray] = {}
    steps = []
    for step_grads in grads:
        new_params = {}
        for key, p in params.items():
            decays = weight_decay if (key.endswith(".weight") or mistake == "decay_on_biases") else 0.0
            g = step_grads[key] if mistake == "decay_after_momentum" else step_grads[key] + decays * p
            if key in velocity:
                v = momentum * velocity[key] + g
            else:
                v = (1.0 - momentum) * g if mistake == "no_first_step_buffer" else g
            velocity[key] = v
            new_params[key] = p - lr * (v + decays * p if mistake == "decay_after_momentum" else v)
        params = new_params
        steps.append({key: value.copy() for key, value in params.items()})
    return steps


TRAJECTORY_MISTAKES = ("decay_after_momentum", "decay_on_biases", "no_mask_in_backward", "labels_not_shuffled", "velocity_reset")


def torch_trajectory(mistake: str = "") -> np.ndarray:
    """The loss of each of the twenty steps of :data:`TRAJECTORY` trained in PyTorch from
    :func:`reference_params`, with the batches and dropout masks the assignment prescribes
    (one NumPy generator: a permutation per epoch, then a mask per step); ``mistake`` (one of
    :data:`TRAJECTORY_MISTAKES`) replays a classic mistake instead."""
    import torch
    import torch.nn.functional as F

    spec = TRAJECTORY
    x, y = mnist_subset("train", int(spec["images"]))
    rng = np.random.default_rng(int(spec["seed"]))
    tensors = _tensors(reference_params(), requires_grad=True)
    weights = [t for key, t in tensors.items() if key.endswith(".weight")]
    biases = [t for key, t in tensors.items() if not key.endswith(".weight")]
    decay = float(spec["weight_decay"])
    bias_decay = decay if mistake == "decay_on_biases" else 0.0
    groups = [{"params": weights, "weight_decay": 0.0 if mistake == "decay_after_momentum" else decay}, {"params": biases, "weight_decay": bias_decay}]
    lr, momentum = float(spec["lr"]), float(spec["momentum"])
    optimizer = torch.optim.SGD(groups, lr=lr, momentum=momentum)
    losses = []
    batch_size = int(spec["batch_size"])
    for __ in range(int(spec["epochs"])):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start:start + batch_size]
            labels = y[start:start + batch_size] if mistake == "labels_not_shuffled" else y[batch]
            keep = torch.from_numpy(dropout_keep(rng, (len(batch), HIDDEN), float(spec["dropout"])))
            logits = torch_forward(tensors, torch.from_numpy(x[batch]), keep, mask_in_backward=mistake != "no_mask_in_backward")
            loss = F.cross_entropy(logits, torch.from_numpy(labels))
            optimizer.zero_grad()
            loss.backward()
            if mistake == "velocity_reset":
                optimizer.state.clear()
            before = [weight.detach().clone() for weight in weights]
            optimizer.step()
            if mistake == "decay_after_momentum":  # p -= lr * (v + wd * p), the velocity without the decay
                with torch.no_grad():
                    for weight, old in zip(weights, before):
                        weight -= lr * decay * old
            losses.append(loss.item())
    return np.array(losses)


def _oracle(key: str) -> np.ndarray:
    return oracle(ASSIGNMENT, key)


# ---------------------------------------------------------------------------------------------
# Calling the learner: always with the course's layers swapped in


def _call(learner: Learner, name: str, *args: Any, **kwargs: Any) -> Any:
    """``learner``'s ``name(*args, **kwargs)`` with the grader's stand-ins for the layers of
    02-04 (:data:`LAYER_SOURCES`, :mod:`autograder.isolation.standins`) in place of the learner's own."""
    return learner.call_with_standins(name, LAYER_SOURCES, *args, **kwargs)


def _pair(got: Any, call: str, what: str) -> tuple[Any, Any]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed(_("{call}: must return a pair {what}, got {type}.").format(call=call, what=what, type=type(got).__name__))
    return got[0], got[1]


def _dict_of_arrays(got: Any, call: str, what: str, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(got, dict):
        raise CheckFailed(_("{call}: {what} is a {type}, expected a dict with the keys {keys}.").format(call=call, what=what, type=type(got).__name__, keys=", ".join(keys)))
    missing = [key for key in keys if key not in got]
    if missing:
        raise CheckFailed(_("{call}: {what} has no {missing}; expected the keys {keys} (the state_dict names).").format(
            call=call, what=what, missing=", ".join(repr(k) for k in missing), keys=", ".join(keys)))
    return got


# ---------------------------------------------------------------------------------------------
# init_params


HE_HINT = N_("He initialisation: standard deviation sqrt(2 / fan_in), fan_in = C * kh * kw for a convolution and `in` for a linear layer.")


@check("06.init_params.he", N_("init_params: the right shapes, zero biases and He-scaled weights"), points=2)
def test_init_params_he(learner: Learner) -> None:
    for channels, hidden, classes in INIT_CASES:
        call = describe_call("init_params", "rng", channels=channels, hidden=hidden, classes=classes)
        got = _dict_of_arrays(learner.call("init_params", SeededRng(0), channels=channels, hidden=hidden, classes=classes), call, _("the result"), PARAM_KEYS)
        for key, shape in parameter_shapes(channels, hidden, classes).items():
            value = got[key]
            if not isinstance(value, np.ndarray) or value.shape != shape:
                raise CheckFailed(_("{call}: {key} has shape {got}, expected {expected}.").format(call=call, key=key, got=getattr(value, "shape", type(value).__name__), expected=shape))
            if value.dtype != np.float64:
                raise CheckFailed(_("{call}: {key} has dtype {dtype}, expected float64.").format(call=call, key=key, dtype=value.dtype))
            if key.endswith(".bias"):
                if np.any(value != 0):
                    raise CheckFailed(_("{call}: {key} is not all zeros. Hint: biases start at 0.").format(call=call, key=key))
                continue
            fan_in = int(np.prod(shape[1:]))
            expected_std = np.sqrt(2.0 / fan_in)
            std, mean = float(np.std(value)), float(np.mean(value))
            # Wide bounds: 72 weights (conv1 of the default net) already estimate a standard deviation to about 25 %.
            if not (0.6 * expected_std <= std <= 1.5 * expected_std) or abs(mean) > 4 * expected_std / np.sqrt(value.size) + 1e-12:
                raise CheckFailed(_("{call}: {key} has mean {mean:.3g} and standard deviation {std:.3g}, expected mean 0 and {expected_std:.3g}. Hint: {hint}").format(
                    call=call, key=key, mean=mean, std=std, expected_std=expected_std, hint=_(HE_HINT)))
        weights = [got[key] for key in PARAM_KEYS if key.endswith(".weight")]
        if any(np.array_equal(a.ravel()[:8], b.ravel()[:8]) for i, a in enumerate(weights) for b in weights[i + 1:]):
            raise CheckFailed(_("{call}: two layers start with the same weights; draw every layer's weights from rng in turn.").format(call=call))


# ---------------------------------------------------------------------------------------------
# model_forward, model_backward


def _forward(learner: Learner, train: bool) -> tuple[Any, Any, str]:
    x, __ = mnist_subset("train", BATCH_IMAGES)
    rng = SeededRng(DROPOUT_SEED) if train else None
    call = _("{call} with the course's layers").format(call=describe_call("model_forward", reference_params(), x, train, "rng" if train else None, dropout=DROPOUT))
    logits, cache = _pair(_call(learner, "model_forward", reference_params(), x, train, rng, dropout=DROPOUT), call, "(logits, cache)")
    return logits, cache, call


@check("06.model_forward.eval", N_("model_forward in evaluation mode equals the network in PyTorch"), points=2)
def test_model_forward_eval(learner: Learner) -> None:
    logits, __, call = _forward(learner, train=False)
    assert_matches(logits, _oracle("forward.eval"), call=call, what=_("the logits"), tolerance=TOLERANCE,
                   hints=[(_("in evaluation mode (train=False) dropout does nothing."), _oracle("forward.dropout")),
                          (_("in evaluation mode (train=False) dropout does nothing."), _oracle("forward.wrong.unscaled"))])


@check("06.model_forward.dropout", N_("model_forward in training mode applies inverted dropout with the prescribed mask"), points=1)
def test_model_forward_dropout(learner: Learner) -> None:
    logits, __, call = _forward(learner, train=True)
    assert_matches(logits, _oracle("forward.dropout"), call=call, what=_("the logits"), tolerance=TOLERANCE, hints=[
        (_("inverted dropout divides the kept units by (1 - p), so evaluation needs no rescaling."), _oracle("forward.wrong.unscaled")),
        (_("with train=True, apply dropout to fc1's output after its ReLU: keep = rng.random(h.shape) >= dropout."), _oracle("forward.eval")),
    ])


NO_MASK_HINT = N_("dropout's backward multiplies the gradient by the same mask (kept units / (1 - p)) the forward used; keep the mask in the cache.")


@check("06.model_backward.autograd", N_("model_backward's gradients equal autograd's for the whole network (with dropout)"), points=4)
def test_model_backward_autograd(learner: Learner) -> None:
    logits, cache, forward_call = _forward(learner, train=True)
    if not np.allclose(np.asarray(logits, dtype=np.float64), _oracle("forward.dropout"), rtol=0, atol=1e-6):
        raise CheckFailed(_("{call}: the logits are wrong, so the gradients cannot be checked; fix model_forward first (06.model_forward.dropout).").format(call=forward_call))
    call = _("{call} with the course's layers").format(call=describe_call("model_backward", _oracle("backward.dlogits"), "cache", reference_params()))
    grads = _dict_of_arrays(_call(learner, "model_backward", _oracle("backward.dlogits"), cache, reference_params()), call, _("the result"), PARAM_KEYS)
    # Output first: an error near the logits spoils every gradient below it.
    for key in reversed(PARAM_KEYS):
        assert_matches(grads[key], _oracle(f"backward.{key}"), call=call, what=_("the gradient of {key}").format(key=key), tolerance=TOLERANCE,
                       hints=[(_(NO_MASK_HINT), _oracle(f"backward.wrong.no_mask.{key}"))])


# ---------------------------------------------------------------------------------------------
# sgd_momentum_step


SGD_HINTS = {
    "decay_after_momentum": N_("add weight_decay * p to the gradient before the momentum update (g = g + wd * p; v = mu * v + g), as torch.optim.SGD does, not to the step after it."),
    "decay_on_biases": N_("weight decay applies to the weights (keys ending in '.weight') only, not to the biases."),
    "no_first_step_buffer": N_("on the first step the velocity is the gradient itself (v = g), as torch.optim.SGD's momentum buffer."),
}


@check("06.sgd_momentum_step.torch", N_("two sgd_momentum_step calls equal torch.optim.SGD's steps, with and without weight decay"), points=3)
def test_sgd_momentum_step_torch(learner: Learner) -> None:
    grads = _sgd_grads()
    for case, lr, momentum, weight_decay in SGD_CASES:
        params: Any = _sgd_params()
        velocity: Any = {}
        for step in (1, 2):
            call = describe_call("sgd_momentum_step", params, grads[step - 1], velocity if step == 1 else _("velocity from step 1"), lr, momentum=momentum, weight_decay=weight_decay)
            got = learner.call("sgd_momentum_step", params, grads[step - 1], velocity, lr, momentum=momentum, weight_decay=weight_decay)
            params, velocity = _pair(got, call, "(params, velocity)")
            params = _dict_of_arrays(params, call, _("the new params"), list(_sgd_params()))
            _dict_of_arrays(velocity, call, _("the new velocity"), list(_sgd_params()))
            for key in _sgd_params():
                hints = [(_(text), _oracle(f"sgd.{case}.wrong.{mistake}.step{step}.{key}")) for mistake, text in SGD_HINTS.items()]
                assert_matches(params[key], _oracle(f"sgd.{case}.step{step}.{key}"), call=_("step {step}: {call}").format(step=step, call=call),
                               what=_("the new {key}").format(key=key), tolerance=TOLERANCE, hints=hints)


# ---------------------------------------------------------------------------------------------
# predict, train


@check("06.predict.eval", N_("predict returns the classes of the largest logits, without dropout"), points=1)
def test_predict_eval(learner: Learner) -> None:
    x, __ = mnist_subset("test", PREDICT_IMAGES)
    call = _("{call} with the course's layers").format(call=describe_call("predict", reference_params(), x))
    got = _call(learner, "predict", reference_params(), x)
    if isinstance(got, np.ndarray) and got.dtype.kind == "f" and got.ndim == 2:
        raise CheckFailed(_("{call}: returned {dtype} array {shape}, expected ({images},) classes. Hint: return logits.argmax(axis=1).").format(
            call=call, dtype=got.dtype, shape=got.shape, images=PREDICT_IMAGES))
    assert_matches(got, _oracle("predict.labels"), call=call, what=_("the classes"), tolerance=0)


TRAJECTORY_HINTS = {
    "decay_after_momentum": SGD_HINTS["decay_after_momentum"],
    "decay_on_biases": SGD_HINTS["decay_on_biases"],
    "no_mask_in_backward": NO_MASK_HINT,
    "labels_not_shuffled": N_("shuffle the labels with the images: index both x and y with the same batch of the permutation."),
    "velocity_reset": N_("carry the velocity from step to step (start with {} once, before the first epoch)."),
}


@check("06.train.trajectory", N_("twenty steps of train reproduce PyTorch's losses on the same batches (to 1e-8)"), points=3)
def test_train_trajectory(learner: Learner) -> None:
    spec = TRAJECTORY
    x, y = mnist_subset("train", int(spec["images"]))
    kwargs = {"momentum": spec["momentum"], "weight_decay": spec["weight_decay"], "dropout": spec["dropout"]}
    call = _("{call} with the course's layers").format(
        call=describe_call("train", reference_params(), x, y, spec["epochs"], spec["batch_size"], spec["lr"], f"default_rng({spec['seed']})", **kwargs))
    got = _call(learner, "train", reference_params(), x, y, spec["epochs"], spec["batch_size"], spec["lr"], SeededRng(int(spec["seed"])), **kwargs)
    __, history = _pair(got, call, "(params, history)")
    if not isinstance(history, dict) or "loss" not in history:
        raise CheckFailed(_("{call}: history must be a dict with the losses of the steps under 'loss', got {type}.").format(call=call, type=type(history).__name__))
    losses = np.asarray(history["loss"], dtype=np.float64) if _numbers(history["loss"]) else history["loss"]
    hints = [(_(text), _oracle(f"trajectory.wrong.{mistake}")) for mistake, text in TRAJECTORY_HINTS.items()]
    shape_hints = [((int(spec["images"]) * int(spec["epochs"]),), _("one loss per step (mini-batch), not per image.")),
                   ((int(spec["epochs"]),), _("one loss per step (mini-batch), not per epoch."))]
    assert_matches(losses, _oracle("trajectory.loss"), call=call, what="history['loss']", tolerance=TOLERANCE, hints=hints, shape_hints=shape_hints)


def _numbers(values: Any) -> bool:
    return isinstance(values, (list, tuple, np.ndarray)) and all(isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) for v in values)


# The title is a literal, so that the catalog extraction finds it; tests/test_training.py checks it states the constants.
@check("06.train.accuracy", N_("train reaches 95% test accuracy on 6,000 MNIST images within 600 s"), points=4)
def test_train_accuracy(learner: Learner) -> None:
    x, y = mnist_subset("train", GATE_TRAIN_IMAGES)
    x_test, y_test = mnist_subset("test", GATE_TEST_IMAGES)
    params = learner.call("init_params", SeededRng(GATE_SEED))
    _dict_of_arrays(params, "init_params(default_rng(...))", _("the result"), PARAM_KEYS)
    order_rng = np.random.default_rng(GATE_SEED)
    started = time.perf_counter()
    total = GATE_EPOCHS * GATE_TRAIN_IMAGES
    calls = total // GATE_CHUNK
    for epoch in range(GATE_EPOCHS):
        order = order_rng.permutation(GATE_TRAIN_IMAGES)
        for start in range(0, GATE_TRAIN_IMAGES, GATE_CHUNK):
            chunk = order[start:start + GATE_CHUNK]
            lr = gate_lr((epoch * GATE_TRAIN_IMAGES + start) // GATE_CHUNK, calls)
            kwargs = {"momentum": GATE_MOMENTUM, "weight_decay": GATE_WEIGHT_DECAY, "dropout": GATE_DROPOUT}
            call = describe_call("train", "params", x[chunk], y[chunk], 1, GATE_BATCH, lr, "rng", **kwargs)
            got = _call(learner, "train", params, x[chunk], y[chunk], 1, GATE_BATCH, lr, SeededRng(GATE_SEED + epoch * GATE_TRAIN_IMAGES + start), **kwargs)
            params = _dict_of_arrays(_pair(got, call, "(params, history)")[0], call, _("the trained params"), PARAM_KEYS)
            elapsed = time.perf_counter() - started
            done = epoch * GATE_TRAIN_IMAGES + start + len(chunk)
            progress("  06.train.accuracy: " + _("trained on {done:,} of {total:,} images in {elapsed:.0f} s (limit {limit:.0f} s)").format(
                done=done, total=total, elapsed=elapsed, limit=GATE_TIME_LIMIT))
            if elapsed > GATE_TIME_LIMIT:
                raise CheckFailed(_("train took {elapsed:.0f} s for {done:,} of {total:,} images, over the {limit:.0f} s limit (the course's solution needs {solution}). "
                                    "Hint: train on mini-batches with vectorized layers, never image by image.").format(
                    elapsed=elapsed, done=done, total=total, limit=GATE_TIME_LIMIT, solution=_(GATE_SOLUTION_SECONDS)))
    call = _("{call} with the course's layers").format(call=describe_call("predict", _("trained params"), x_test))
    predictions = _call(learner, "predict", params, x_test)
    if not isinstance(predictions, np.ndarray) or predictions.shape != (GATE_TEST_IMAGES,):
        raise CheckFailed(_("{call}: must return ({images},) classes, got {got}.").format(
            call=call, images=GATE_TEST_IMAGES, got=getattr(predictions, "shape", type(predictions).__name__)))
    accuracy = float(np.mean(predictions == y_test))
    progress("  06.train.accuracy: " + _("{accuracy:.2%} of {images:,} test images right (needs {needed:.0%})").format(
        accuracy=accuracy, images=GATE_TEST_IMAGES, needed=GATE_ACCURACY))
    if not np.isfinite(np.asarray(params["fc2.weight"], dtype=np.float64)).all():
        raise CheckFailed(_("after training, fc2.weight holds nan or inf: the loss diverged. "
                            "Hint: the learning rates are small; check the gradients' signs and that the update subtracts lr * velocity."))
    if accuracy < GATE_ACCURACY:
        raise CheckFailed(_("after {epochs} epochs on {train_images:,} images, {call} gets {accuracy:.2%} of {test_images:,} test images right, needs {needed:.0%}. "
                            "Hint: the checks above find most mistakes; also shuffle labels with their images, and use train=False in predict.").format(
            epochs=GATE_EPOCHS, train_images=GATE_TRAIN_IMAGES, call=call, accuracy=accuracy, test_images=GATE_TEST_IMAGES, needed=GATE_ACCURACY))


# ---------------------------------------------------------------------------------------------
# Not graded: the learner's own layers


def own_layers_report(learner: Learner) -> str:
    """How the learner's *own* layers from 02-04 do in the network's gradients (not graded).

    The graded checks swap in the grader's stand-in layers; this report runs ``model_forward`` and
    ``model_backward`` with the learner's own layers on the checks' batch and, if a gradient
    differs from autograd's, swaps in all layers but one at a time to name the culprits.

    Returns:
        A few lines for the learner, without a trailing newline.
    """
    title = _("Your own layers in model_forward / model_backward (not graded; {images} training images):").format(images=BATCH_IMAGES)
    if not (learner.has("model_forward") and learner.has("model_backward")):
        return title + "\n  " + _("model_forward or model_backward is not defined yet, so there is nothing to report.")

    def difference(replacements: Mapping[str, str], failed: str = N_("fails: {error}")) -> str | None:
        """None when every gradient matches autograd's, else a short description (``failed``
        when a call fails)."""
        x, _labels = mnist_subset("train", BATCH_IMAGES)
        call: Callable[..., Any] = (lambda name, *args: learner.call_with_standins(name, replacements, *args)) if replacements else learner.call
        try:
            forward = call("model_forward", reference_params(), x, True, SeededRng(DROPOUT_SEED), DROPOUT)
            grads = call("model_backward", _oracle("backward.dlogits"), forward[1], reference_params())
            errors = {key: float(np.max(np.abs(np.asarray(grads[key], dtype=np.float64) - _oracle(f"backward.{key}")))) for key in PARAM_KEYS}
        except CheckFailed as error:
            return _(failed).format(error=error)
        except (TypeError, KeyError, IndexError, ValueError) as error:
            return _("returns something unexpected ({type}: {error})").format(type=type(error).__name__, error=error)
        worst = max(errors, key=lambda key: errors[key] if np.isfinite(errors[key]) else np.inf)
        if not np.isfinite(errors[worst]):
            return _("gives nan or inf in the gradient of {key}").format(key=worst)
        return None if errors[worst] <= TOLERANCE * 100 else _("gets the gradient of {key} wrong by up to {error:.3g}").format(key=worst, error=errors[worst])

    with_course_layers = difference(LAYER_SOURCES)
    if with_course_layers is not None:
        return title + "\n  " + _("the network does not match autograd even with the course's layers; fix it first (see 06.model_backward.autograd).")
    whole = difference({}, failed="{error}")
    if whole is None:
        return title + "\n  ✓ " + _("with all your own layers the gradients match autograd's.")
    lines = [title, "  ✗ " + _("with all your own layers the network {difference}. One layer at a time (the others the course's):").format(difference=whole)]
    lines += one_layer_at_a_time(learner, LAYER_SOURCES, difference)
    return "\n".join(lines)


# ==== HIDDEN CHECKS: instructor only; the student release ends this module above this line ====
# Official grading (autograder.classroom.official) adds these to the public checks; their
# oracles live in oracle_data/hidden/, which the student release leaves out too.

# (case, lr, momentum, weight_decay): plain SGD with decay, and a heavy momentum.
HIDDEN_SGD_CASES: tuple[tuple[str, float, float, float], ...] = (("no_momentum", 0.2, 0.0, 0.05), ("heavy", 0.01, 0.99, 0.3))


def build_hidden_oracles() -> dict[str, np.ndarray]:
    """``torch.optim.SGD``'s parameters after each of two steps, for the hidden cases."""
    return {f"sgd.hidden.{case}.step{step}.{key}": value
            for case, lr, momentum, weight_decay in HIDDEN_SGD_CASES
            for step, params in enumerate(torch_sgd_steps(_sgd_params(), _sgd_grads(), lr, momentum, weight_decay), start=1)
            for key, value in params.items()}


@check("06.sgd_momentum_step.hidden_cases", N_("sgd_momentum_step equals torch.optim.SGD without momentum and with a heavy one"), points=1, hidden=True)
def test_sgd_momentum_step_hidden_cases(learner: Learner) -> None:
    for case, lr, momentum, weight_decay in HIDDEN_SGD_CASES:
        params: Any = _sgd_params()
        velocity: Any = {}
        for step, grads in enumerate(_sgd_grads(), start=1):
            call = describe_call("sgd_momentum_step", params, grads, velocity if step == 1 else _("velocity from step 1"), lr, momentum=momentum, weight_decay=weight_decay)
            params, velocity = _pair(learner.call("sgd_momentum_step", params, grads, velocity, lr, momentum=momentum, weight_decay=weight_decay), call, "(params, velocity)")
            params = _dict_of_arrays(params, call, _("the new params"), list(_sgd_params()))
            for key in _sgd_params():
                assert_matches(params[key], _oracle(f"sgd.hidden.{case}.step{step}.{key}"), call=_("step {step}: {call}").format(step=step, call=call),
                               what=_("the new {key}").format(key=key), tolerance=TOLERANCE)
