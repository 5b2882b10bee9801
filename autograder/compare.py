"""Compare a learner's result with an oracle and explain the difference.

Every failure message names the call, the shapes, the first differing position with expected
and received values, and, when the result matches a known wrong answer, a hint.

Hints and ``what`` arrive in English, marked with ``N_`` where the checks define them, and are
translated here, when the message is built (:mod:`autograder.i18n`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from autograder.i18n import N_, _
from autograder.registry import CheckFailed

DEFAULT_TOLERANCE = 1e-10


def describe_value(value: Any) -> str:
    """Short description of an argument: arrays by dtype and shape, the rest by repr."""
    if isinstance(value, np.ndarray):
        return _("{dtype} array {shape}").format(dtype=value.dtype, shape=tuple(value.shape))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe_value(v)}" for k, v in value.items()) + "}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_call(name: str, *args: Any, **kwargs: Any) -> str:
    """``conv2d_forward(float64 array (2, 3, 7, 9), ..., stride=2)`` for messages."""
    parts = [describe_value(a) for a in args] + [f"{k}={describe_value(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _as_array(got: Any, call: str, what: str, expected: np.ndarray) -> np.ndarray:
    if isinstance(got, np.ndarray):
        return got
    if np.isscalar(got) and expected.shape == ():
        return np.asarray(got)
    message = _("{call}: {what} is a {type}, expected a NumPy array of shape {shape}.").format(call=call, what=_(what), type=type(got).__name__, shape=tuple(expected.shape))
    if got is None:
        message += with_hint(N_("the function returned nothing; end it with `return` and the result."))
    raise CheckFailed(message)


def with_hint(hint: str) -> str:
    """`` Hint: ...`` in the current language, to end a failure message."""
    return _(" Hint: {hint}").format(hint=_(hint))


def _differing(got: np.ndarray, expected: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the entries off by more than ``tolerance * max(1, max|expected|)``, absolute
    errors) for two arrays of one shape. A NaN error (NaN or inf where the other differs) is off."""
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    with np.errstate(invalid="ignore"):
        err = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    return ~(err <= tolerance * scale), err


def _close(got: np.ndarray, expected: np.ndarray, tolerance: float) -> bool:
    return got.shape == expected.shape and not _differing(got, expected, tolerance)[0].any()


def matching_hint(got: np.ndarray, hints: Sequence[tuple[str, np.ndarray]], tolerance: float) -> str | None:
    """The first hint whose wrong answer equals ``got``."""
    for text, wrong in hints:
        wrong = np.asarray(wrong)
        if _close(got, wrong, max(tolerance, 1e-8)):
            return text
    return None


def assert_matches(
    got: Any,
    expected: np.ndarray,
    *,
    call: str,
    what: str = N_("the result"),
    tolerance: float = DEFAULT_TOLERANCE,
    hints: Sequence[tuple[str, np.ndarray]] = (),
    shape_hints: Sequence[tuple[tuple[int, ...], str]] = (),
) -> None:
    """Raise :class:`CheckFailed` unless ``got`` equals ``expected`` within
    ``tolerance * max(1, max|expected|)`` in every entry.

    Args:
        got: the learner's value.
        expected: the oracle's value (float64).
        call: from :func:`describe_call`.
        what: names the value in messages, e.g. ``"dx"``.
        tolerance: relative to the output scale.
        hints: ``(text, wrong_answer)`` pairs; a hint is added when ``got`` equals a wrong answer.
        shape_hints: ``(wrong_shape, text)`` pairs for recognisable wrong shapes.
    """
    expected = np.asarray(expected)
    got = _as_array(got, call, what, expected)
    if got.shape != expected.shape:
        message = _("{call}: {what} has shape {got}, expected {want}.").format(call=call, what=_(what), got=tuple(got.shape), want=tuple(expected.shape))
        for shape, text in shape_hints:
            if tuple(got.shape) == tuple(shape):
                message += with_hint(text)
                break
        else:
            hint = matching_hint(got, hints, tolerance)
            if hint:
                message += with_hint(hint)
        raise CheckFailed(message)
    if not np.issubdtype(got.dtype, np.number) and got.dtype != np.bool_:
        raise CheckFailed(_("{call}: {what} has dtype {dtype}, expected numbers.").format(call=call, what=_(what), dtype=got.dtype))
    bad, err = _differing(got, expected, tolerance)
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    index = "[" + ", ".join(map(str, first)) + "]"
    message = _("{call}: {what} differs at {index}: expected {want}, got {got} ({count} of {size} entries differ, max abs error {error}).").format(
        call=call, what=_(what), index=index, want=f"{expected[first]:.6g}", got=f"{got[first]:.6g}", count=int(bad.sum()), size=bad.size, error=f"{np.nanmax(err):.3g}"
    )
    hint = matching_hint(got, hints, tolerance)
    if hint:
        message += with_hint(hint)
    raise CheckFailed(message)


def assert_equal(got: Any, expected: Any, *, call: str, what: str = N_("the result"), hint: str | None = None) -> None:
    """Raise :class:`CheckFailed` unless ``got == expected`` (ints, tuples, strings)."""
    if got != expected or type(got) is bool and type(expected) is not bool:
        message = _("{call}: {what} is {got}, expected {want}.").format(call=call, what=_(what), got=repr(got), want=repr(expected))
        if hint:
            message += with_hint(hint)
        raise CheckFailed(message)
