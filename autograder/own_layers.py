"""The not-graded "your own layers" reports of assignments that compose layers from earlier
ones (05, 06): which of the learner's own layers make the network differ."""

from __future__ import annotations

from typing import Callable, Mapping

from autograder.i18n import _
from autograder.learner import Learner

# Which assignment each composable layer belongs to: the learner's own copy is imported from that
# notebook, and the reports name it. The checks of 05 and 06 pick the layers their networks use.
LAYER_ORIGINS: dict[str, str] = {
    "conv2d_forward": "02-padding-stride",
    "maxpool2d_forward": "03-pooling",
    "relu_forward": "04-backprop",
    "relu_backward": "04-backprop",
    "linear_forward": "04-backprop",
    "linear_backward": "04-backprop",
    "softmax_cross_entropy": "04-backprop",
    "maxpool2d_backward": "04-backprop",
    "conv2d_backward": "04-backprop",
}


def layer_sources(*names: str) -> dict[str, str]:
    """``{name: assignment id}`` for the layers ``names``, in that order."""
    return {name: LAYER_ORIGINS[name] for name in names}


def one_layer_at_a_time(learner: Learner, sources: Mapping[str, str], difference: Callable[[Mapping[str, str]], str | None]) -> list[str]:
    """One report line per layer: the learner's own ``name`` with all other layers the course's.

    Args:
        learner: the learner.
        sources: layer function name -> the assignment id it belongs to (:func:`layer_sources`);
            the grader's stand-ins replace the layers that are not the learner's.
        difference: ``difference(replacements)`` is None when the network matches the reference
            with those layers swapped in, else a short description ("gives nan logits").
    """
    lines = []
    for name, source in sources.items():
        if not learner.has(name):
            lines.append("    ✗ " + _("your {name} (from {source}) is not defined here: the import cell could not load it from your {source} notebook").format(name=name, source=source))
            continue
        result = difference({other: src for other, src in sources.items() if other != name})
        if result is None:
            lines.append("    ✓ " + _("your {name} (from {source}) matches").format(name=name, source=source))
        else:
            lines.append("    ✗ " + _("your {name} (from {source}) {result}; the {source} checks say more").format(name=name, source=source, result=result))
    return lines
