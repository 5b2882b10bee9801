"""Trusted drivers for learner code that takes or returns torch objects (assignment 07).

A dataset class, a pair of ``DataLoader``s, a ``nn.Module`` or a training function that takes
one cannot cross the sandbox's process boundary (plain data only, see
:mod:`autograder.learner`). A driver runs where the learner's code runs: it builds the torch
arguments, calls the learner's function, watches what it does (module modes, optimizer groups,
``.to(device)`` calls) and returns plain data (NumPy arrays, numbers, lists, dicts) that the
check in the grading process compares with its PyTorch oracle. Drivers judge nothing
themselves. Each is ``driver(func, namespace, **kwargs)``; :data:`DRIVERS` names them for
``Learner.drive``.

Every number a driver returns may come from learner code that runs in the same process, so
checks treat it as a claim: they compare it with what the grading process computes itself.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from autograder.data import normalize


def _normalized(images: np.ndarray) -> Any:
    """uint8 (N, H, W) -> float32 tensor (N, 1, H, W) normalized with the MNIST mean and std."""
    import torch

    return torch.from_numpy(normalize(images))


def _numpy(value: Any) -> np.ndarray:
    import torch

    return torch.as_tensor(value).detach().cpu().numpy().copy()


def _state(module: Any) -> dict[str, np.ndarray]:
    return {str(key): _numpy(value) for key, value in module.state_dict().items()}


def _is_module(value: Any) -> bool:
    import torch

    return isinstance(value, torch.nn.Module)


def _require_module(value: Any, what: str) -> None:
    if not _is_module(value):
        raise TypeError(f"{what} must return a torch.nn.Module, got {type(value).__name__}")


def _predictions(model: Any, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Arg-max classes (N,) of ``model`` on uint8 ``images`` (N, 28, 28), CPU, eval mode."""
    import torch

    model = model.to("cpu").eval()
    x = _normalized(images)
    with torch.no_grad():
        return np.concatenate([_numpy(model(x[i:i + batch_size]).argmax(dim=1)) for i in range(0, len(x), batch_size)]).astype(np.int64)


def _unchanged(images: np.ndarray, before: np.ndarray, what: str) -> None:
    if not np.array_equal(images, before):
        raise ValueError(f"it changed its argument {what} in place; work on a copy")


# ---------------------------------------------------------------------------------------------
# Data


def dataset(cls: Callable[..., Any], namespace: Mapping[str, Any], images: np.ndarray, labels: np.ndarray, indices: list[int]) -> dict[str, Any]:
    """``cls(images, labels)``: whether it is a ``Dataset``, its length, and items ``indices``
    as ``x`` (k, ...) float arrays and ``y`` (k,) ints, with their dtypes."""
    import torch

    before = images.copy()
    data = cls(images, labels)
    _unchanged(images, before, "images")
    if not isinstance(data, torch.utils.data.Dataset):
        return {"is_dataset": False, "type": type(data).__name__}
    items = [data[i] for i in indices]
    if not all(isinstance(item, (tuple, list)) and len(item) == 2 for item in items):
        return {"is_dataset": True, "length": len(data), "pairs": False}
    return {
        "is_dataset": True, "length": len(data), "pairs": True,
        "x": np.stack([_numpy(x) for x, _ in items]), "x_dtype": str(torch.as_tensor(items[0][0]).dtype).removeprefix("torch."),
        "y": np.array([int(y) for _, y in items]), "y_dtype": str(torch.as_tensor(items[0][1]).dtype).removeprefix("torch."),
    }


def loaders(make_loaders: Callable[..., Any], namespace: Mapping[str, Any], images: np.ndarray, labels: np.ndarray, batch_size: int, val_fraction: float, seed: int, epochs: int = 2) -> dict[str, Any]:
    """``make_loaders(images, labels, batch_size, val_fraction, seed)``: every batch of each
    loader for ``epochs`` passes, as ``{"train": [{"x", "y", "sizes"} per epoch], "val": [...]}``."""
    before = images.copy()
    pair = make_loaders(images, labels, batch_size, val_fraction, seed)
    _unchanged(images, before, "images")
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise TypeError(f"make_loaders must return (train_loader, val_loader), got {type(pair).__name__}")
    out: dict[str, Any] = {}
    for name, loader in zip(("train", "val"), pair):
        passes = []
        for _ in range(epochs):
            batches = [(_numpy(x), _numpy(y)) for x, y in loader]
            passes.append({"x": np.concatenate([x for x, _ in batches]), "y": np.concatenate([y for _, y in batches]), "sizes": [len(y) for _, y in batches]})
        out[name] = passes
    return out


def shift(random_shift: Callable[..., Any], namespace: Mapping[str, Any], images: np.ndarray, max_shift: int, seed: int) -> dict[str, Any]:
    """``random_shift(x, max_shift, generator)`` twice with generators seeded ``seed``, on
    normalized ``images`` (N, 1, 28, 28): both outputs and whether ``x`` was changed."""
    import torch

    x = torch.from_numpy(np.array(images, dtype=np.float32))
    before = x.clone()
    first = _numpy(random_shift(x, max_shift, torch.Generator().manual_seed(seed)))
    again = _numpy(random_shift(x, max_shift, torch.Generator().manual_seed(seed)))
    return {"out": first, "again": again, "input_changed": not torch.equal(x, before)}


# ---------------------------------------------------------------------------------------------
# Training, watched


@contextmanager
def _watched_to_calls(counts: dict[str, int], moved: set[int]) -> Iterator[None]:
    """Count ``Tensor.to`` and ``Module.to`` calls that name a device (a ``torch.device`` or a
    string), and collect the ids of the tensors such calls returned in ``moved``."""
    import torch

    tensor_to, module_to = torch.Tensor.to, torch.nn.Module.to

    def names_device(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
        values = list(args) + [kwargs.get("device")]
        return any(isinstance(v, (torch.device, str)) for v in values)

    def counted_tensor_to(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = tensor_to(self, *args, **kwargs)
        if names_device(args, kwargs):
            counts["tensor_to"] += 1
            moved.add(id(result))
        return result

    def counted_module_to(self: Any, *args: Any, **kwargs: Any) -> Any:
        if names_device(args, kwargs):
            counts["module_to"] += 1
        return module_to(self, *args, **kwargs)

    torch.Tensor.to, torch.nn.Module.to = counted_tensor_to, counted_module_to  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.Tensor.to, torch.nn.Module.to = tensor_to, module_to  # type: ignore[method-assign]


@contextmanager
def _watched_optimizers(names: Mapping[int, str], groups: list[dict[str, Any]]) -> Iterator[None]:
    """Record each optimizer's parameter groups (weight decay, parameter names) as it is built."""
    import torch

    original = torch.optim.Optimizer.__init__

    def recording_init(self: Any, params: Any, defaults: Any, *args: Any, **kwargs: Any) -> None:
        original(self, params, defaults, *args, **kwargs)
        for group in self.param_groups:
            groups.append({"weight_decay": float(group.get("weight_decay", 0.0)), "params": [names.get(id(p), "?") for p in group["params"]]})

    torch.optim.Optimizer.__init__ = recording_init  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.optim.Optimizer.__init__ = original  # type: ignore[method-assign]


def train_run(train_model: Callable[..., Any], namespace: Mapping[str, Any], images: np.ndarray, labels: np.ndarray, val_images: np.ndarray, val_labels: np.ndarray,
              epochs: int, patience: int, lr: float, seed: int, train_batch: int, val_batch: int) -> dict[str, Any]:
    """Train the learner's ``Net()`` with ``train_model(model, train_loader, val_loader, epochs=,
    lr=, device=torch.device("cpu"), seed=, patience=)`` on small loaders (batch sizes
    ``train_batch`` and ``val_batch``, distinct, so each forward call tells which loader fed it)
    and report what happened:

    * ``forward``: ``[batch size, model.training, grad enabled, input came from .to(device)]``
      per forward call;
    * ``snapshots``: the state at the start of each validation pass (flattened, float64);
    * ``final``: the state after ``train_model`` returned; ``history``: what it returned;
    * ``groups``: every optimizer parameter group (weight decay, parameter names);
    * ``accumulated``: a gradient was added to one left over from an earlier step;
    * ``tensor_to`` / ``module_to``: ``.to(device)`` calls on tensors and on modules.
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    model = namespace["Net"]()
    _require_module(model, "Net()")
    names = {id(p): name for name, p in model.named_parameters()}
    train_loader = DataLoader(TensorDataset(_normalized(images), torch.from_numpy(labels.astype(np.int64))), batch_size=train_batch, shuffle=True, generator=torch.Generator().manual_seed(seed))
    val_loader = DataLoader(TensorDataset(_normalized(val_images), torch.from_numpy(val_labels.astype(np.int64))), batch_size=val_batch)

    forward: list[list[Any]] = []
    snapshots: list[np.ndarray] = []

    def flat_state() -> np.ndarray:
        return np.concatenate([_numpy(v).astype(np.float64).ravel() for v in model.state_dict().values()])

    def before_forward(module: Any, inputs: tuple[Any, ...]) -> None:
        size = int(inputs[0].shape[0])
        if size == val_batch and (not forward or forward[-1][0] != val_batch):
            snapshots.append(flat_state())
        forward.append([size, bool(module.training), bool(torch.is_grad_enabled()), id(inputs[0]) in moved])

    accumulated = [False]
    incoming: dict[int, Any] = {}

    def grad_arrives(key: int) -> Callable[[Any], None]:
        def hook(grad: Any) -> None:
            incoming[key] = grad.detach().clone()
        return hook

    def grad_stored(param: Any) -> None:
        if param.grad is not None and id(param) in incoming and not torch.equal(param.grad, incoming[id(param)]):
            accumulated[0] = True

    handles = [model.register_forward_pre_hook(before_forward)]
    for param in model.parameters():
        handles.append(param.register_hook(grad_arrives(id(param))))
        handles.append(param.register_post_accumulate_grad_hook(grad_stored))
    counts = {"tensor_to": 0, "module_to": 0}
    moved: set[int] = set()
    groups: list[dict[str, Any]] = []
    try:
        with _watched_to_calls(counts, moved), _watched_optimizers(names, groups):
            history = train_model(model, train_loader, val_loader, epochs=epochs, lr=lr, device=torch.device("cpu"), seed=seed, patience=patience)
    finally:
        for handle in handles:
            handle.remove()
    val_accuracy = history.get("val_accuracy") if isinstance(history, dict) else None
    return {
        "forward": forward, "snapshots": snapshots, "final": flat_state(),
        "val_accuracy": [float(a) for a in val_accuracy] if isinstance(val_accuracy, (list, tuple)) else None,
        "groups": groups, "accumulated": accumulated[0], **counts,
        "train_batches": len(train_loader),
    }


def predictions(func: Callable[..., Any], namespace: Mapping[str, Any], images: np.ndarray, labels: np.ndarray, seed: int, test_images: np.ndarray) -> dict[str, Any]:
    """``model = func(images, labels, seed=seed, device="cpu")`` (a training function), then
    the model's classes (N,) on ``test_images`` and its parameter count."""
    before = images.copy()
    model = func(images, labels, seed=seed, device="cpu")
    _unchanged(images, before, "images")
    _require_module(model, func.__name__)
    return {"predictions": _predictions(model, test_images), "parameters": int(sum(p.numel() for p in model.parameters()))}


def transfer_state(func: Callable[..., Any], namespace: Mapping[str, Any], images: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
    """``model = func(images, labels, seed=seed, device="cpu")``: its state (float32 arrays),
    which parameters require gradients, and the shape of its output for two blank images."""
    import torch

    model = func(images, labels, seed=seed, device="cpu")
    _require_module(model, func.__name__)
    model = model.to("cpu").eval()
    with torch.no_grad():
        output_shape = list(model(torch.zeros(2, 1, 28, 28)).shape)
    return {"state": _state(model), "requires_grad": {name: bool(p.requires_grad) for name, p in model.named_parameters()}, "output_shape": output_shape}


def save_load(save: Callable[..., Any], namespace: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """A ``Net()`` filled with seeded weights, ``save(model, path)`` into a fresh folder, the
    file read back with ``safetensors.torch.load_file``, and ``load(path, device="cpu")``:
    the three states (float arrays) and the type ``load`` returned."""
    import torch
    from safetensors.torch import load_file

    from autograder.learner import fill_seeded_state

    model = namespace["Net"]()
    _require_module(model, "Net()")
    with torch.no_grad():
        fill_seeded_state(model, seed)
    saved = _state(model)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        save(model, path)
        try:
            in_file = {key: _numpy(value) for key, value in load_file(path).items()}
        except Exception as error:  # noqa: BLE001 - not a safetensors file
            in_file = {"__error__": np.array(f"{type(error).__name__}: {error}")}
        # a file that is not safetensors fails the check already: do not let load stumble on it
        loaded = None if "__error__" in in_file else namespace["load"](path, device="cpu")
    after = _state(model)
    return {"saved": saved, "file": in_file, "loaded": _state(loaded) if _is_module(loaded) else None, "loaded_type": type(loaded).__name__,
            "model_changed": any(not np.array_equal(saved[k], after[k]) for k in saved)}


DRIVERS: dict[str, Callable[..., Any]] = {
    "dataset": dataset,
    "loaders": loaders,
    "shift": shift,
    "train_run": train_run,
    "predictions": predictions,
    "transfer_state": transfer_state,
    "save_load": save_load,
}
