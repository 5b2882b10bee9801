"""A learner's feedback for one graded notebook, as Markdown and as a standalone HTML page.

Every check is listed with its mark, points, title and, when it failed, its teaching message
(what was called, where the result differs, a hint). Hidden checks are left out unless
``show_hidden``: until grades are published their cases stay the staff's.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from autograder.engine import CheckResult, NotebookResult
from autograder.i18n import CHINESE, _, language
from autograder.report import clean


@dataclass(frozen=True)
class Feedback:
    """One learner's feedback on one assignment.

    Attributes:
        learner: the learner's id (folder name or roster entry).
        result: the grading result.
        show_hidden: include the hidden checks and their messages.
    """

    learner: str
    result: NotebookResult
    show_hidden: bool = False

    def checks(self) -> list[CheckResult]:
        return [c for c in self.result.checks if self.show_hidden or not c.hidden]

    def score(self) -> tuple[float, float]:
        shown = self.checks()
        return sum(c.earned for c in shown), sum(c.points for c in shown)

    def notes(self) -> list[str]:
        """Lines shown above the checks: why it was not graded, no submission, changed test
        cells, cells that raised."""
        return [clean(line) for line in ([self.result.error] if self.result.error else []) + self.result.cell_errors]

    def title(self) -> str:
        return _("{assignment}: feedback for {learner}").format(assignment=self.result.assignment or _("submission"), learner=self.learner)


def _points(value: float) -> str:
    return f"{value:g}"


def _total(score: float, maximum: float) -> str:
    return _("{score}/{maximum} points").format(score=_points(score), maximum=_points(maximum))


def markdown(feedback: Feedback) -> str:
    """The feedback as Markdown: a heading, the total, notes, then one section per check."""
    score, maximum = feedback.score()
    lines = [f"# {feedback.title()}", "", f"**{_total(score, maximum)}**", ""]
    lines += [f"> ⚠ {note}" for note in feedback.notes()]
    if feedback.notes():
        lines.append("")
    for check in feedback.checks():
        mark = "✓" if check.passed else "✗"
        hidden = " " + _("(hidden)") if check.hidden else ""
        lines += [f"## {mark} `{check.id}`{hidden}: {_points(check.earned)}/{_points(check.points)}", "", check.title, ""]
        if check.message:
            lines += ["```text", clean(check.message).replace("```", "'''"), "```", ""]
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
    "pre{background:#f6f6f6;padding:.6rem;white-space:pre-wrap}.passed{color:#176b1c}.failed{color:#a11}"
    ".note{background:#fff6d6;padding:.4rem .6rem}"
)


def html_page(feedback: Feedback) -> str:
    """The same feedback as a standalone HTML page (everything from grading is escaped)."""
    score, maximum = feedback.score()
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if language() == CHINESE else "en"}"><head><meta charset="utf-8"><title>{html.escape(feedback.title())}</title><style>{_STYLE}</style></head><body>',
        f"<h1>{html.escape(feedback.title())}</h1>",
        f"<p><strong>{_total(score, maximum)}</strong></p>",
    ]
    parts += [f'<p class="note">⚠ {html.escape(note)}</p>' for note in feedback.notes()]
    for check in feedback.checks():
        status = "passed" if check.passed else "failed"
        mark = "✓" if check.passed else "✗"
        hidden = " " + _("(hidden)") if check.hidden else ""
        parts.append(f'<h2 class="{status}">{mark} <code>{html.escape(check.id)}</code>{hidden}: {_points(check.earned)}/{_points(check.points)}</h2>')
        parts.append(f"<p>{html.escape(check.title)}</p>")
        if check.message:
            parts.append(f"<pre>{html.escape(clean(check.message))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
