"""IPython syntax in learners' cells, run without a Jupyter kernel.

Learners write ``%matplotlib inline``, ``!pip install ...`` or ``%%time`` in their notebooks;
plain ``compile()`` rejects those lines, and the whole cell (with the functions it defines)
would be lost. :func:`ipython_to_python` lets IPython's own input transformer turn them into
``get_ipython().run_line_magic(...)`` calls, and :class:`KernelFreeShell` is the
``get_ipython()`` they call: it runs the Python that ``%time``, ``%%time`` and ``%%capture``
wrap, and skips every other magic and every shell command (the grader has no kernel, no shell
and no network), with a note on stderr that ``--verbose`` shows.
"""

from __future__ import annotations

import sys
from typing import Any, MutableMapping

from autograder.i18n import _

# Magics whose argument is Python to run in the notebook's namespace, as IPython would.
LINE_MAGICS_RUN = frozenset({"time"})
CELL_MAGICS_RUN = frozenset({"time", "capture"})


def ipython_to_python(source: str) -> str:
    """``source`` with IPython-only syntax (magics, ``!`` commands, ``obj?``) rewritten as
    plain Python calls on ``get_ipython()``; plain Python comes back unchanged."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


class KernelFreeShell:
    """What ``get_ipython()`` returns while grading: the few calls transformed cells make."""

    def __init__(self, namespace: MutableMapping[str, Any]) -> None:
        self.user_ns = namespace  # IPython's name for the notebook's namespace

    @staticmethod
    def _skip(what: str) -> None:
        print(_("autograder: skipped {what} (IPython syntax; grading runs without a Jupyter kernel)").format(what=what), file=sys.stderr)

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1) -> Any:
        if name in LINE_MAGICS_RUN and line.strip():
            return self._run(line)
        self._skip(f"%{name} {line}".rstrip())
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> Any:
        if name in CELL_MAGICS_RUN:
            exec(compile(ipython_to_python(cell), f"<%%{name} cell>", "exec"), self.user_ns)  # noqa: S102 - the learner's own cell
            return None
        self._skip(_("the %%{name} cell").format(name=name))
        return None

    def system(self, command: str) -> None:
        self._skip(f"!{command}")

    def getoutput(self, command: str, split: bool = True) -> list[str]:
        self._skip(f"!{command}")
        return []

    def _run(self, statement: str) -> Any:
        """Evaluate an expression (its value is the magic's result) or execute statements."""
        try:
            code = compile(statement, "<%time>", "eval")
        except SyntaxError:
            exec(compile(statement, "<%time>", "exec"), self.user_ns)  # noqa: S102 - the learner's own line
            return None
        return eval(code, self.user_ns)  # noqa: S307 - the learner's own expression


def provide_get_ipython(namespace: MutableMapping[str, Any]) -> None:
    """Give ``namespace`` a ``get_ipython()`` returning a :class:`KernelFreeShell`, unless it
    already has one."""
    if "get_ipython" not in namespace:
        shell = KernelFreeShell(namespace)
        namespace["get_ipython"] = lambda: shell
