"""The Chinese book's catalogs (``locales/zh_CN/LC_MESSAGES/book/<chapter>.po``) build correct
pages: a display-math block is never translated (MyST prints a translated math block as ``::``,
MyST-Parser issues 444 and 980), and a glued number shows in a translated paragraph (a one-page
book built in Chinese). What each translation must keep of its paragraph's markup is checked by
tests/test_translations.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polib
import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.book

CATALOGS = sorted((REPO_ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "book").glob("*.po"))


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda path: path.stem)
def test_display_math_is_left_untranslated(catalog: Path) -> None:
    translated = [entry.msgid[:60] for entry in polib.pofile(str(catalog))
                  if entry.msgid.startswith("\n") and entry.msgstr not in ("", entry.msgid)]
    assert not translated, (f"{catalog.name}: translated display math comes out as '::' with MyST; keep msgstr = msgid "
                            f"and move words out of $$...$$ into the prose: {translated}")


PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Page

```{code-cell} ipython3
from myst_nb import glue
glue("answer", "42", display=False)
```

The answer is {glue:text}`answer`.
"""
CATALOG = '''msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\\n"

msgid "The answer is {glue:text}`answer`."
msgstr "答案是 {glue:text}`answer`。"
'''


@pytest.mark.slow
def test_a_glued_number_shows_in_a_translated_paragraph(tmp_path: Path) -> None:
    """Sphinx parses a translated paragraph as a new document, without MyST-NB's glue data;
    autograder.site_languages (in _config.yml) reads the page's glue file instead. A one-page book in
    Chinese, built with -W, must show the number."""
    (tmp_path / "conf.py").write_text('extensions = ["myst_nb", "autograder.site_languages"]\n'
                                      'locale_dirs = ["locales/"]\nnb_execution_mode = "force"\nhtml_theme = "sphinx_book_theme"\n', encoding="utf-8")
    (tmp_path / "index.md").write_text("# Index\n\n```{toctree}\npage\n```\n", encoding="utf-8")
    (tmp_path / "page.md").write_text(PAGE, encoding="utf-8")
    (tmp_path / "locales" / "zh_CN" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "locales" / "zh_CN" / "LC_MESSAGES" / "page.po").write_text(CATALOG, encoding="utf-8")
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", "-D", "language=zh_CN", str(tmp_path),
                            str(tmp_path / "_out")], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-2000:]
    assert re.search(r"答案是 <span[^>]*>42</span>", (tmp_path / "_out" / "page.html").read_text(encoding="utf-8"))
