"""Sphinx extension: the book in two languages (``sphinx.extra_extensions`` in ``_config.yml``).

* A language switcher in every page's header (``book/_templates/language-switch.html``): on an
  English page a link "中文" to the same page of the Chinese site, on a Chinese page "English"
  back. The Chinese site is the folder ``zh_CN/`` inside the English one (see
  :mod:`autograder.book_build`), so the links are relative and work from ``file://`` and from a
  web server alike.
* ``<html lang>`` in BCP 47 form (``zh-CN``, not Sphinx's ``zh_CN``), which the explorers
  (book/_static/explorers.js) read to label themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autograder.paths import REPO_ROOT

TEMPLATES = REPO_ROOT / "book" / "_templates"
SWITCH_TEMPLATE = "language-switch.html"
ENGLISH_SITE = "en"
TRANSLATED_SITES = ("zh_CN",)  # folder names inside the English site
LINK_TEXT = {"en": "English", "zh_CN": "中文"}
LINK_TITLE = {"en": "Read this page in English", "zh_CN": "阅读本页的中文版"}


def bcp47(language: str | None) -> str:
    """``"zh_CN"`` -> ``"zh-CN"``; None (Sphinx's default) -> ``"en"``."""
    return (language or ENGLISH_SITE).replace("_", "-")


def switch_url(pagename: str, language: str | None) -> tuple[str, str]:
    """The relative URL of ``pagename`` in the other language, and that language.

    >>> switch_url("book/convolution", "en")
    ('../zh_CN/book/convolution.html', 'zh_CN')
    >>> switch_url("book/convolution", "zh_CN")
    ('../../book/convolution.html', 'en')
    """
    to_root = "../" * pagename.count("/")
    if (language or ENGLISH_SITE) in TRANSLATED_SITES:
        return f"{to_root}../{pagename}.html", ENGLISH_SITE
    other = TRANSLATED_SITES[0]
    return f"{to_root}{other}/{pagename}.html", other


def _add_switch_to_header(app: Any, config: Any) -> None:
    config.templates_path = [*config.templates_path, str(TEMPLATES)]
    options = dict(config.html_theme_options or {})
    end = list(options.get("article_header_end") or ["article-header-buttons.html"])
    if SWITCH_TEMPLATE not in end:
        end.insert(0, SWITCH_TEMPLATE)
    options["article_header_end"] = end
    config.html_theme_options = options


def _page_context(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    language = app.config.language
    context["language"] = bcp47(language)
    if doctree is None:  # genindex, search: no page in the other language to point at
        context["cnn_language_switch"] = None
        return
    url, other = switch_url(pagename, language)
    context["cnn_language_switch"] = {"url": url, "hreflang": bcp47(other), "text": LINK_TEXT[other], "title": LINK_TITLE[other]}


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point."""
    app.connect("config-inited", _add_switch_to_header)
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
