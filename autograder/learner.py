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
import inspect
import sys
from contextlib import contextmanager
import time
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, MutableMapping, Protocol, Sequence

import numpy as np

from autograder.i18n import _
from autograder.registry import CheckFailed


class LearnerError(CheckFailed):
    """The learner's code could not produce a result (missing, raised, timed out, crashed).

    Attributes:
        exception: the name of the exception the learner's function raised (``"ValueError"``),
            or ``None``; checks test this, never the message, which is in the learner's language.
    """

    def __init__(self, message: str, exception: str | None = None) -> None:
        super().__init__(message)
        self.exception = exception


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


def summarize_module(module: Any, input_shape: Sequence[int] | None = None, weights_seed: int | None = None) -> dict[str, Any]:
    """Describe a ``torch.nn.Module`` as plain data: type, parameter count, leaf layers, its
    ``state_dict``'s keys and shapes and, given an input shape, the output shape for a zero input.

    With ``weights_seed``, the module's whole state is first overwritten by
    :func:`fill_seeded_state` in float64 and the input is :func:`seeded_input` instead of zeros:
    ``"output"`` then holds the eval-mode output, which a check compares with a reference
    module filled the same way.

    Returns:
        ``{"type": str, "is_module": bool, "parameters": int, "layers": [str, ...],
        "state": [(key, shape), ...], "state_dict_keys": [str, ...], "output_shape": tuple | None,
        "output": array | None}``
    """
    import torch

    if not isinstance(module, torch.nn.Module):
        return {"type": type(module).__name__, "is_module": False, "parameters": 0, "layers": [], "state": [], "state_dict_keys": [], "output_shape": None, "output": None}
    leaves = leaf_layers(module)
    if any(p.is_meta for p in module.parameters()):
        # Built on the meta device (by the learner): give it uninitialised memory; only shapes are read.
        module = module.to_empty(device="cpu")
    state = [(str(key), tuple(value.shape)) for key, value in module.state_dict().items()]
    output_shape = output = None
    if input_shape is not None:
        with torch.no_grad():
            was_training = module.training
            module.eval()
            if weights_seed is None:
                output_shape = tuple(module(torch.zeros(*input_shape)).shape)
            else:
                fill_seeded_state(module.double(), weights_seed)
                result = module(torch.from_numpy(seeded_input(input_shape, weights_seed)))
                output_shape, output = tuple(result.shape), result.numpy().copy()
            module.train(was_training)
    return {
        "type": type(module).__name__,
        "is_module": True,
        "parameters": int(sum(p.numel() for p in module.parameters())),
        "layers": leaves,
        "state": state,
        "output_shape": output_shape,
        "output": output,
        "state_dict_keys": [key for key, _ in state],
    }


def seeded_input(shape: Sequence[int], seed: int) -> np.ndarray:
    """A float64 standard-normal input of ``shape`` from ``default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal(tuple(shape))


def fill_seeded_state(module: Any, seed: int) -> Any:
    """Overwrite every floating-point entry of ``module.state_dict()`` (in place) with values
    that depend only on ``seed``, the entry's key and its shape, so two modules with the same
    keys and shapes compute the same function: weights He-scaled normals, biases and BN shifts
    and running means small normals, BN scales near 1, running variances in [0.5, 1.5].

    Returns:
        ``module``.
    """
    import torch

    with torch.no_grad():
        for key, value in module.state_dict().items():
            if not value.is_floating_point():
                continue  # num_batches_tracked
            rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
            shape = tuple(value.shape)
            if key.endswith("running_var"):
                values = rng.uniform(0.5, 1.5, shape)
            elif value.dim() > 1:
                values = rng.standard_normal(shape) * np.sqrt(2.0 / max(1, int(np.prod(shape[1:]))))
            elif key.endswith("weight"):
                values = 1.0 + 0.1 * rng.standard_normal(shape)
            else:
                values = 0.1 * rng.standard_normal(shape)
            value.copy_(torch.from_numpy(values))
    return module


POSTPROCESSORS: dict[str, Callable[..., Any]] = {"module_summary": summarize_module, "numpy_only": lambda value: value}


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


class NumPyOnlyViolation(LearnerError):
    """A function of an assignment's NumPy part called torch, scipy.signal or scipy.ndimage."""


@contextmanager
def numpy_only() -> Iterator[None]:
    """A context in which learner code may not call into torch, scipy.signal or scipy.ndimage,
    even though they are imported: for assignments with a NumPy part and a PyTorch part in one
    notebook (08), where importing torch cannot be refused. A profile hook
    (``sys.setprofile``) records the first call whose function belongs to one of those modules,
    Python or C; leaving the context then raises :class:`NumPyOnlyViolation`.
    """
    from autograder.assignments import FORBIDDEN_IN_NUMPY_ASSIGNMENTS

    seen: list[str] = []

    def owner(frame: Any, event: str, arg: Any) -> tuple[str, str]:
        if event == "call":
            return str(frame.f_globals.get("__name__", "")), frame.f_code.co_name
        module = getattr(arg, "__module__", None) or type(getattr(arg, "__self__", None)).__module__
        return str(module), str(getattr(arg, "__name__", "?"))

    def profile(frame: Any, event: str, arg: Any) -> None:
        if seen or event not in ("call", "c_call"):
            return
        module, name = owner(frame, event, arg)
        if any(module == prefix or module.startswith(prefix + ".") for prefix in FORBIDDEN_IN_NUMPY_ASSIGNMENTS):
            seen.append(f"{module}.{name}")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)
    if seen:
        raise NumPyOnlyViolation(_("it called {function}, but this is the assignment's NumPy part: torch, scipy.signal and scipy.ndimage are not allowed here; write it with NumPy only.").format(function=seen[0]))


def run_driver(func: Callable[..., Any], namespace: Mapping[str, Any], driver: str, kwargs: Mapping[str, Any]) -> Any:
    """Run the trusted driver ``driver`` of :mod:`autograder.torch_drivers` on the learner's
    ``func`` (called by the driver, not here) with access to the learner's ``namespace``;
    returns the driver's plain-data observations. For learner code whose arguments and results
    are torch objects (07's datasets, modules, training functions), which cannot cross a process
    boundary: the driver builds the arguments and reduces the results on the learner's side."""
    from autograder.torch_drivers import DRIVERS

    return DRIVERS[driver](func, namespace, **kwargs)


# The context the learner's function runs in when its result goes to a postprocessor.
POSTPROCESS_CONTEXTS: dict[str, Callable[[], Any]] = {"module_summary": initialization_skipped, "numpy_only": numpy_only}


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


def _arrays(value: Any, path: str) -> Iterator[tuple[str, np.ndarray]]:
    """(how to name it, array) for every NumPy array in ``value``, also inside containers."""
    if isinstance(value, np.ndarray):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from _arrays(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _arrays(item, f"{path}[{key!r}]")


def _unchanged(before: np.ndarray, after: np.ndarray) -> bool:
    if before.shape != after.shape or before.dtype != after.dtype:
        return False
    try:
        return bool(np.array_equal(before, after, equal_nan=True))
    except TypeError:  # dtypes without NaN
        return bool(np.array_equal(before, after))


def call_learner(name: str, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    """``func(*args, **kwargs)``, then a check that it left its array arguments as they were
    (values, shape, dtype): inputs are read-only by contract.

    Raises:
        LearnerError: the function changed an argument in place.
    """
    try:
        bound = inspect.signature(func).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):  # wrong arity is the call's own error, reported below
        bound = {**{f"argument {i + 1}": a for i, a in enumerate(args)}, **kwargs}
    watched = [(path, array, array.copy()) for key, value in bound.items() for path, array in _arrays(value, key)]
    value = func(*args, **kwargs)
    for path, array, before in watched:
        if not _unchanged(before, array):
            simple = path.isidentifier()
            fix = _("work on a copy ({path} = {path}.copy()) or build a new array").format(path=path) if simple else _("work on a copy or build a new array")
            raise LearnerError(_("{name} changed its argument {path} in place; {fix}.").format(name=name, path=path, fix=fix))
    return value


def describe_missing(name: str, namespace: Mapping[str, Any] | None = None) -> str:
    """One teaching line about a function the notebook does not define; names the notebook's
    function with the closest name when there is one (a renamed or misspelt function)."""
    import difflib

    defined = [k for k, v in (namespace or {}).items() if isinstance(k, str) and callable(v) and not k.startswith("_")]
    close = difflib.get_close_matches(name, defined, n=1, cutoff=0.8)
    if close:
        return _("{name} is not defined, but {close} is: did you rename it? The grader calls {name}; keep the name the notebook gave it.").format(name=name, close=close[0])
    return _("{name} is not defined: run the cell that defines it and fix any error it shows.").format(name=name)


def describe_exception(name: str, exc: BaseException, tb: traceback.StackSummary | None = None) -> str:
    """One teaching line about an exception raised by the learner's function ``name``."""
    if isinstance(exc, NumPyOnlyViolation):  # a LearnerError whose message lacks the name
        return f"{name}: {exc}"
    if isinstance(exc, LearnerError):
        return str(exc)
    if isinstance(exc, NotImplementedError):
        return _("{name} is not implemented yet: replace `raise NotImplementedError()` in its cell with your code.").format(name=name)
    if isinstance(exc, SystemExit):
        return _("{name} called sys.exit({code}); a graded function must return a value instead.").format(name=name, code=repr(exc.code))
    if isinstance(exc, MemoryError):
        return _("{name} ran out of memory; avoid building arrays far larger than the output.").format(name=name)
    return _("{name} raised {type}: {problem}").format(name=name, type=type(exc).__name__, problem=exc) + _learner_line(tb)


def _learner_line(tb: traceback.StackSummary | None) -> str:
    """`` (code cell 7 of 23, line 5: `x *= 2`)`` for the innermost frame of the learner's own
    code; never a line of the course's solutions, of the grader or of a library."""
    from autograder.notebook import learner_cell_label, translated_cell_label

    for frame in reversed(tb or []):
        label = learner_cell_label(frame.filename)
        if label is None and (frame.filename.startswith("<") or frame.filename.startswith(_NOT_LEARNER_PREFIXES)):
            continue
        code = f"`{frame.line.strip() if frame.line else '?'}`"
        if label:
            return " " + _("({cell}, line {line}: {code})").format(cell=translated_cell_label(label), line=frame.lineno, code=code)
        return " " + _("(line {line}: {code})").format(line=frame.lineno, code=code)
    return ""


# library, standard library and grader files: a learner's frame is none of these
_NOT_LEARNER_PREFIXES = (sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parent))


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

    def call_and_summarize(self, name: str, *args: Any, input_shape: Sequence[int] | None = None, weights_seed: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """Call ``name`` and return :func:`summarize_module` of the result (for functions that
        build ``torch.nn.Module``s)."""

    def call_numpy_only(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`call`, inside :func:`numpy_only`: a call into torch, scipy.signal or
        scipy.ndimage raises :class:`LearnerError`."""

    def time_call(self, name: str, *args: Any, repeats: int = 7, **kwargs: Any) -> list[float]:
        """Wall times in seconds of ``repeats`` calls, measured by trusted code."""

    def drive(self, name: str, driver: str, **kwargs: Any) -> Any:
        """Hand the learner's ``name`` to the trusted driver ``driver`` of
        :mod:`autograder.torch_drivers`, run where the learner's code runs, and return its
        plain-data observations (see :func:`run_driver`)."""


def wall_times(call: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds each of ``repeats`` runs of ``call`` took (``time.perf_counter``)."""
    times = []
    for _repeat in range(repeats):
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
            raise LearnerError(describe_missing(name, self.namespace))
        return func

    def _invoke(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        func = self._function(name)
        args = resolve_markers(copy.deepcopy(tuple(args)))
        kwargs = resolve_markers(copy.deepcopy(dict(kwargs)))
        try:
            return call_learner(name, func, args, kwargs)
        except LearnerError:
            raise
        except Exception as exc:  # noqa: BLE001 - any learner failure becomes a message
            tb = traceback.extract_tb(exc.__traceback__)
            raise LearnerError(describe_exception(name, exc, tb), type(exc).__name__) from None
        except SystemExit as exc:
            raise LearnerError(describe_exception(name, exc), type(exc).__name__) from None

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._invoke(name, args, kwargs)

    def call_with_standins(self, name: str, replaced: Iterable[str], *args: Any, **kwargs: Any) -> Any:
        from autograder.isolation.standins import standins_for

        armed = [True]

        def disarmed_after_the_call(standin: Callable[..., Any]) -> Callable[..., Any]:
            def call(*a: Any, **kw: Any) -> Any:
                if not armed[0]:
                    raise RuntimeError(_("the grader's stand-in for {name} is only available while a check swaps it in").format(name=standin.__name__))
                return standin(*a, **kw)

            return call

        functions = {n: disarmed_after_the_call(f) for n, f in standins_for(tuple(replaced), name).items()}
        try:
            with functions_swapped_in(self.namespace, functions):
                return self._invoke(name, args, kwargs)
        finally:
            armed[0] = False

    def call_and_summarize(self, name: str, *args: Any, input_shape: Sequence[int] | None = None, weights_seed: int | None = None, **kwargs: Any) -> dict[str, Any]:
        with POSTPROCESS_CONTEXTS["module_summary"]():
            module = self._invoke(name, args, kwargs)
        try:  # the module's own forward runs here, as in the sandbox's postprocessor
            return summarize_module(module, input_shape, weights_seed)
        except Exception as exc:  # noqa: BLE001 - any learner failure becomes a message
            raise LearnerError(describe_exception(name, exc, traceback.extract_tb(exc.__traceback__)), type(exc).__name__) from None

    def call_numpy_only(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            with POSTPROCESS_CONTEXTS["numpy_only"]():
                return self._invoke(name, args, kwargs)
        except NumPyOnlyViolation as violation:
            raise NumPyOnlyViolation(f"{name}: {violation}") from None

    def time_call(self, name: str, *args: Any, repeats: int = 7, **kwargs: Any) -> list[float]:
        return wall_times(lambda: self._invoke(name, args, kwargs), repeats)

    def drive(self, name: str, driver: str, **kwargs: Any) -> Any:
        func = self._function(name)
        try:
            return run_driver(func, self.namespace, driver, resolve_markers(copy.deepcopy(kwargs)))
        except LearnerError:
            raise
        except Exception as exc:  # noqa: BLE001 - any learner failure becomes a message
            raise LearnerError(describe_exception(name, exc, traceback.extract_tb(exc.__traceback__))) from None
        except SystemExit as exc:
            raise LearnerError(describe_exception(name, exc)) from None


_MISSING = object()
