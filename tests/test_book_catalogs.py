"""The Chinese book's catalogs (``locales/zh_CN/LC_MESSAGES/book/<chapter>.po``) keep what Sphinx
needs to build a correct page: a display-math block is never translated (MyST prints a translated
math block as ``::``, MyST-Parser issues 444 and 980), and a translated paragraph keeps every role
target, inline code span and link target of its English paragraph. Reads the .po files only."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import polib
import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.book

CATALOGS = sorted((REPO_ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "book").glob("*.po"))
ROLE = re.compile(r"\{([a-z:]+)\}`([^`]*)`")
CODE = re.compile(r"`([^`]+)`")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")


def markup_lost(msgid: str, msgstr: str) -> list[str]:
    """What of ``msgid``'s markup ``msgstr`` lacks: role targets (``{glue:text}`key```, the ``<target>``
    of ``{doc}`text <target>```), inline code spans and link targets; extra ones are allowed."""

    def role_targets(text: str) -> Counter:
        return Counter((name, target[target.find("<"):] if "<" in target else target) for name, target in ROLE.findall(text))

    def code_spans(text: str) -> Counter:
        return Counter(CODE.findall(ROLE.sub("", text)))

    lost = []
    for kind, count in (("role", role_targets), ("code", code_spans), ("link", lambda t: Counter(LINK_TARGET.findall(t)))):
        missing = count(msgid) - count(msgstr)
        lost += [f"{kind} {item!r}" for item in missing]
    return lost


def test_there_is_one_catalog_per_chapter_of_the_toc() -> None:
    chapters = {line.split("book/")[1].strip() for line in (REPO_ROOT / "_toc.yml").read_text(encoding="utf-8").splitlines()
                if "book/" in line}
    assert {path.stem for path in CATALOGS} == chapters


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: path.stem)
def test_display_math_is_left_untranslated(catalog: Path) -> None:
    translated = [entry.msgid[:60] for entry in polib.pofile(str(catalog))
                  if entry.msgid.startswith("\n") and entry.msgstr not in ("", entry.msgid)]
    assert not translated, (f"{catalog.name}: translated display math comes out as '::' with MyST; keep msgstr = msgid "
                            f"and move words out of $$...$$ into the prose: {translated}")


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: path.stem)
def test_translations_keep_the_roles_code_and_links_of_their_paragraph(catalog: Path) -> None:
    broken = {entry.msgid[:60]: lost for entry in polib.pofile(str(catalog))
              if entry.msgstr and (lost := markup_lost(entry.msgid, entry.msgstr))}
    assert not broken, f"{catalog.name}: translations lost markup: {broken}"


def test_markup_lost_names_a_dropped_glue_role_a_code_span_and_a_link() -> None:
    english = "Accuracy {glue:text}`val_accuracy` with `fit`, see [the chapter](training.md) and {doc}`the list <exercises>`."
    assert markup_lost(english, "准确率为 {glue:text}`val_accuracy`，用 `fit`，见[该章](training.md)和{doc}`列表 <exercises>`。") == []
    assert markup_lost(english, "准确率为 95 %，用 fit，见[该章](pooling.md)和{doc}`列表 <intro>`。") == [
        "role ('glue:text', 'val_accuracy')", "role ('doc', '<exercises>')", "code 'fit'", "link 'training.md'"]
