"""How a check reaches the learner's code.

Checks never touch learner functions directly: they go through a :class:`Learner`, which has
two implementations with the same behaviour:

* :class:`InProcessLearner` wraps a notebook's ``globals()``; nbgrader test cells use it.
* ``autograder.sandbox.SandboxedLearner`` runs the learner's code in a limited child process;
  the command line uses it. Values cross the process boundary as NumPy arrays, Python
  scalars, strings, tuples, lists and dicts, plus the two markers below.

Learner code failing (not implemented, an exception, a timeout, a crash, a forbidden import)
raises :class:`LearnerError`, a :class:`~autograder.registry.CheckFailed` whose message the
checks pass on unchanged.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, MutableMapping, Protocol, Sequence

import numpy as np

from autograder.registry import CheckFailed


class LearnerError(CheckFailed):
    """The learner's code could not produce a result (missing, raised, timed out, crashed)."""


@dataclass(frozen=True)
class SeededRng:
    """Marker for an argument that the learner receives as ``np.random.default_rng(seed)``."""

    seed: int


@dataclass(frozen=True)
class Probe:
    """Marker for a function argument, resolved on the learner's side by name from
    :data:`PROBE_FUNCTIONS` (functions cannot cross a process boundary)."""

    name: str


def _weighted_cubic(x: np.ndarray) -> float:
    weights = np.linspace(-1.0, 2.0, x.size).reshape(x.shape)
    return float(np.sum(weights * x**3) + np.sum(np.sin(x)))


def _softplus_sum(x: np.ndarray) -> float:
    return float(np.sum(np.log1p(np.exp(x))))


def _coupled_tanh(x: np.ndarray) -> float:
    # Every partial derivative depends on other entries, so a numeric gradient that forgets to
    # restore an entry it perturbed gets the later entries wrong.
    flat = x.reshape(-1)
    return float(0.5 * np.sum(flat) ** 2 + np.sum(np.tanh(flat[:-1] * flat[1:])))


PROBE_FUNCTIONS: dict[str, Callable[[np.ndarray], float]] = {
    "weighted_cubic": _weighted_cubic,
    "softplus_sum": _softplus_sum,
    "coupled_tanh": _coupled_tanh,
}


def leaf_layers(module: Any) -> list[str]:
    """The reprs of a ``torch.nn.Module``'s leaf layers (those with no children), in order."""
    return [repr(m) for m in module.modules() if not list(m.children())]


def summarize_module(module: Any, input_shape: Sequence[int] | None = None) -> dict[str, Any]:
    """Describe a ``torch.nn.Module`` as plain data: type, parameter count, leaf layers and,
    given an input shape, the output shape for a zero input.

    Returns:
        ``{"type": str, "is_module": bool, "parameters": int, "layers": [str, ...],
        "output_shape": tuple | None}``
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        return {"type": type(module).__name__, "is_module": False, "parameters": 0, "layers": [], "output_shape": None}
    leaves = leaf_layers(module)
    if any(p.is_meta for p in module.parameters()):
        # Built on the meta device (by the learner): give it uninitialised memory; only shapes are read.
        module = module.to_empty(device="cpu")
    output_shape = None
    if input_shape is not None:
        with torch.no_grad():
            was_training = module.training
            module.eval()
            output_shape = tuple(module(torch.zeros(*input_shape)).shape)
            module.train(was_training)
    return {
        "type": type(module).__name__,
        "is_module": True,
        "parameters": int(sum(p.numel() for p in module.parameters())),
        "layers": leaves,
        "output_shape": output_shape,
    }


POSTPROCESSORS: dict[str, Callable[..., Any]] = {"module_summary": summarize_module}


@contextmanager
def initialization_skipped() -> Iterator[None]:
    """A context in which ``torch.nn.init``'s in-place initialisers (``kaiming_uniform_``,
    ``uniform_``, ``normal_``, ...) leave their tensor as it is: new modules get uninitialised
    memory, which is all a structure check reads (shapes, parameter counts, an output shape).
    AlexNet builds in milliseconds instead of 0.4 s; building on the "meta" device and then
    ``to_empty`` costs 0.5 s of one-off set-up instead."""
    from unittest import mock

    import torch.nn.init

    initialisers = [name for name in dir(torch.nn.init) if name.endswith("_") and not name.startswith("_")]
    with mock.patch.multiple(torch.nn.init, **{name: _leave_as_is for name in initialisers}):
        yield


def _leave_as_is(tensor: Any, *args: Any, **kwargs: Any) -> Any:
    return tensor


# The context the learner's function runs in when its result goes to a postprocessor.
POSTPROCESS_CONTEXTS: dict[str, Callable[[], Any]] = {"module_summary": initialization_skipped}


def resolve_markers(value: Any) -> Any:
    """Replace :class:`SeededRng` and :class:`Probe` markers (also inside containers)."""
    if isinstance(value, SeededRng):
        return np.random.default_rng(value.seed)
    if isinstance(value, Probe):
        return PROBE_FUNCTIONS[value.name]
    if isinstance(value, tuple):
        return tuple(resolve_markers(v) for v in value)
    if isinstance(value, list):
        return [resolve_markers(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve_markers(v) for k, v in value.items()}
    return value


def describe_missing(name: str) -> str:
    """One teaching line about a function the notebook does not define."""
    return f"{name} is not defined: run the cell that defines it and fix any error it shows."


def describe_exception(name: str, exc: BaseException, tb: traceback.StackSummary | None = None) -> str:
    """One teaching line about an exception raised by the learner's function ``name``."""
    if isinstance(exc, NotImplementedError):
        return f"{name} is not implemented yet: replace `raise NotImplementedError()` in its cell with your code."
    if isinstance(exc, SystemExit):
        return f"{name} called sys.exit({exc.code!r}); a graded function must return a value instead."
    if isinstance(exc, MemoryError):
        return f"{name} ran out of memory; avoid building arrays far larger than the output."
    where = ""
    if tb:
        frame = tb[-1]
        where = f" (line {frame.lineno}: {frame.line.strip() if frame.line else '?'})"
    return f"{name} raised {type(exc).__name__}: {exc}{where}"


@contextmanager
def functions_swapped_in(namespace: MutableMapping[str, Any], functions: Mapping[str, Callable[..., Any]]) -> Iterator[None]:
    """Temporarily replace functions in the learner's ``namespace`` (restored afterwards, also
    when the learner's code deleted or rebound them meanwhile)."""
    saved = {key: namespace.get(key, _MISSING) for key in functions}
    try:
        namespace.update(functions)
        yield
    finally:
        for key, value in saved.items():
            if value is _MISSING:
                namespace.pop(key, None)
            else:
                namespace[key] = value


def call_learner_function(func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """The one place where a learner function is called (in process and in the sandbox), on
    arguments with their markers resolved."""
    return func(*resolve_markers(tuple(args)), **resolve_markers(dict(kwargs)))


class Learner(Protocol):
    """What checks may ask of a learner's notebook."""

    def has(self, name: str) -> bool:
        """Whether the notebook defines a callable called ``name``."""

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the learner's ``name(*args, **kwargs)`` on copies of the arguments.

        Raises:
            LearnerError: missing, not implemented, raised, timed out, crashed, forbidden import.
        """

    def call_with_standins(self, name: str, replaced: Iterable[str], *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`call`, with the learner's functions named in ``replaced`` (e.g.
        ``("pad2d", "conv_output_size")``) swapped for the grader's trusted stand-ins
        (:mod:`autograder.isolation.standins`) while it runs, so a mistake in a helper costs
        points in the helper's own checks only. ``name`` itself is never swapped."""

    def call_and_summarize(self, name: str, *args: Any, input_shape: Sequence[int] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Call ``name`` and return :func:`summarize_module` of the result (for functions that
        build ``torch.nn.Module``s)."""

    def time_call(self, name: str, *args: Any, repeats: int = 7, **kwargs: Any) -> list[float]:
        """Wall times in seconds of ``repeats`` calls, measured by trusted code."""


def wall_times(call: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds each of ``repeats`` runs of ``call`` took (``time.perf_counter``)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


class InProcessLearner:
    """A :class:`Learner` over a namespace in this process, e.g. a notebook's ``globals()``.

    Used by nbgrader test cells, where nbgrader's own kernel is the isolation.
    """

    def __init__(self, namespace: MutableMapping[str, Any]) -> None:
        self.namespace = namespace

    def has(self, name: str) -> bool:
        return callable(self.namespace.get(name))

    def _function(self, name: str) -> Callable[..., Any]:
        func = self.namespace.get(name)
        if not callable(func):
            raise LearnerError(describe_missing(name))
        return func

    def _invoke(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        func = self._function(name)
        try:
            return call_learner_function(func, copy.deepcopy(tuple(args)), copy.deepcopy(dict(kwargs)))
        except Exception as exc:  # noqa: BLE001 - any learner failure becomes a message
            tb = traceback.extract_tb(exc.__traceback__)
            raise LearnerError(describe_exception(name, exc, tb)) from None
        except SystemExit as exc:
            raise LearnerError(describe_exception(name, exc)) from None

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._invoke(name, args, kwargs)

    def call_with_standins(self, name: str, replaced: Iterable[str], *args: Any, **kwargs: Any) -> Any:
        from autograder.isolation.standins import standins_for

        armed = [True]

        def disarmed_after_the_call(standin: Callable[..., Any]) -> Callable[..., Any]:
            def call(*a: Any, **kw: Any) -> Any:
                if not armed[0]:
                    raise RuntimeError(f"the grader's stand-in for {standin.__name__} is only available while a check swaps it in")
                return standin(*a, **kw)

            return call

        functions = {n: disarmed_after_the_call(f) for n, f in standins_for(tuple(replaced), name).items()}
        try:
            with functions_swapped_in(self.namespace, functions):
                return self._invoke(name, args, kwargs)
        finally:
            armed[0] = False

    def call_and_summarize(self, name: str, *args: Any, input_shape: Sequence[int] | None = None, **kwargs: Any) -> dict[str, Any]:
        with POSTPROCESS_CONTEXTS["module_summary"]():
            module = self._invoke(name, args, kwargs)
        return summarize_module(module, input_shape)

    def time_call(self, name: str, *args: Any, repeats: int = 7, **kwargs: Any) -> list[float]:
        return wall_times(lambda: self._invoke(name, args, kwargs), repeats)


_MISSING = object()
