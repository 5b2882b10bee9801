"""The not-graded "your own layers" reports of assignments that compose layers from earlier
ones (05, 06): which of the learner's own layers make the network differ."""

from __future__ import annotations

from typing import Callable, Mapping

from autograder.learner import Learner


def one_layer_at_a_time(learner: Learner, sources: Mapping[str, str], difference: Callable[[Mapping[str, str]], str | None]) -> list[str]:
    """One report line per layer: the learner's own ``name`` with all other layers the course's.

    Args:
        learner: the learner.
        sources: layer function name -> the assignment id whose solution provides it.
        difference: ``difference(replacements)`` is None when the network matches the reference
            with those layers swapped in, else a short description ("gives nan logits").
    """
    lines = []
    for name, source in sources.items():
        if not learner.has(name):
            lines.append(f"    ✗ your {name} (from {source}) is not defined here: the import cell could not load it from your {source} notebook")
            continue
        result = difference({other: src for other, src in sources.items() if other != name})
        if result is None:
            lines.append(f"    ✓ your {name} (from {source}) matches")
        else:
            lines.append(f"    ✗ your {name} (from {source}) {result}; the {source} checks say more")
    return lines
