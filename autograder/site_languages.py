"""Sphinx extension: the book in two languages (``sphinx.extra_extensions`` in ``_config.yml``).

* A language switcher in every page's header (``book/_templates/language-switch.html``): on an
  English page a link "中文" to the same page of the Chinese site, on a Chinese page "English"
  back. The Chinese site is the folder ``zh_CN/`` inside the English one (see
  :mod:`autograder.book_build`), so the links are relative and work from ``file://`` and from a
  web server alike.
* ``<html lang>`` in BCP 47 form (``zh-CN``, not Sphinx's ``zh_CN``), which the explorers
  (book/_static/explorers.js) read to label themselves.
* Glue in translated paragraphs: Sphinx parses each translation as a small document of its own
  (source ``<page>:<line>:<translated>``), whose myst-nb renderer holds no glue data, so every
  {glue:text}`key` in a translation would be "not found". :func:`_glue_from_the_page` then
  looks the key up in the glue file myst-nb wrote for the page (:func:`page_glue`): the
  translated page shows the numbers its own execution glued.
* The prompts of collapsed cells ("Show the set-up code", myst-nb's "Hide code cell source")
  and the captions of figures drawn by code cells, which live in cell metadata, not in the
  catalogs: :class:`TranslateCellMetadata` takes them from the book catalog of
  :mod:`autograder.i18n` (``autograder/locale/<lang>/.../book.po`` and ``book/captions.po``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

from docutils import nodes
from sphinx.transforms.post_transforms import SphinxPostTransform

from autograder.i18n import CHINESE, ENGLISH, TRANSLATED, translate
from autograder.paths import REPO_ROOT

TEMPLATES = REPO_ROOT / "book" / "_templates"
SWITCH_TEMPLATE = "language-switch.html"
# The translated sites are folders named by their language (i18n.TRANSLATED) inside the English one.
LINK_TEXT = {ENGLISH: "English", CHINESE: "中文"}
LINK_TITLE = {ENGLISH: "Read this page in English", CHINESE: "阅读本页的中文版"}
# The site's title (_config.yml's title, which no catalog holds) in each translated site.
SITE_TITLE = {CHINESE: "卷积神经网络"}


def bcp47(language: str | None) -> str:
    """``"zh_CN"`` -> ``"zh-CN"``; None (Sphinx's default) -> ``"en"``."""
    return (language or ENGLISH).replace("_", "-")


def switch_url(pagename: str, language: str | None) -> tuple[str, str]:
    """The relative URL of ``pagename`` in the other language, and that language.

    >>> switch_url("book/convolution", "en")
    ('../zh_CN/book/convolution.html', 'zh_CN')
    >>> switch_url("book/convolution", "zh_CN")
    ('../../book/convolution.html', 'en')
    """
    to_root = "../" * pagename.count("/")
    if (language or ENGLISH) in TRANSLATED:
        return f"{to_root}../{pagename}.html", ENGLISH
    other = TRANSLATED[0]
    return f"{to_root}{other}/{pagename}.html", other


def _add_switch_to_header(app: Any, config: Any) -> None:
    if config.language in SITE_TITLE:
        config.html_title = SITE_TITLE[config.language]
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


def page_glue(env: Any) -> dict[str, Any]:
    """The glue data of the page being read, from the file myst-nb writes while parsing it
    (``<nb output folder>/<docname>.glue.json``); empty when the page glued nothing."""
    path = Path(env.mystnb_config.output_folder).joinpath(*env.docname.split("/"))
    path = path.with_name(path.name + ".glue.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _glue_from_the_page(retrieve: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``retrieve_glue_data`` that falls back to the page's glue when a translation's small
    document has none (see the module docstring)."""
    from myst_nb.core.variables import VariableOutput
    from myst_nb.ext.glue.utils import RetrievalError

    @functools.wraps(retrieve)
    def retrieve_with_page(document: Any, key: str) -> Any:
        try:
            return retrieve(document, key)
        except RetrievalError:
            env = getattr(document.settings, "env", None)
            if env is None or not str(document.get("source", "")).endswith("<translated>"):
                raise
            glued = page_glue(env).get(key)
            if glued is None:
                raise
            return VariableOutput(data=glued["data"], metadata=glued.get("metadata", {}), nb_renderer=document.get("nb_renderer"), vtype="glue")

    retrieve_with_page.cnn_page_fallback = True  # type: ignore[attr-defined]
    return retrieve_with_page


SMART_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def plain_quotes(text: str) -> str:
    """``text`` with docutils' smart quotes turned back into the ASCII quotes of the source."""
    return text.translate(SMART_QUOTES)


class TranslateCellMetadata(SphinxPostTransform):
    """What code cells' metadata puts on a page, which the chapter catalogs never see, in the
    page's language, from the book catalog of :mod:`autograder.i18n`:

    * the show/hide prompts of collapsed cells (``book.po``; after myst-nb's HideInputCells,
      priority 199, has made them);
    * the captions of figures drawn by code cells (``mystnb: figure: caption:``,
      ``book/captions.po``). Captions are plain text, so the translation replaces the caption's
      text; one without a translation stays as it is (a test requires one for every caption).
    """

    default_priority = 210
    formats = ("html",)

    def run(self, **kwargs: Any) -> None:
        from myst_nb.sphinx_ import HideCodeCellNode

        language = self.config.language
        if language not in TRANSLATED:
            return
        for node in self.document.findall(HideCodeCellNode):
            for key in ("prompt_show", "prompt_hide"):
                node[key] = translate(node[key], "book", language)
        for caption in self.document.findall(nodes.caption):
            english = plain_quotes(caption.astext())
            translated = translate(english, "book", language)
            if translated != english:
                caption.children = []
                caption += nodes.Text(translated)


def _patch_glue_lookup() -> None:
    from myst_nb.ext.glue import directives, roles, utils

    if getattr(utils.retrieve_glue_data, "cnn_page_fallback", False):
        return
    patched = _glue_from_the_page(utils.retrieve_glue_data)
    for module in (utils, roles, directives):
        module.retrieve_glue_data = patched


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point."""
    _patch_glue_lookup()
    app.add_post_transform(TranslateCellMetadata)
    app.connect("config-inited", _add_switch_to_header)
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
