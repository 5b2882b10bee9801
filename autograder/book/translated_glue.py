"""Sphinx extension: glued numbers in translated paragraphs (the Chinese book).

Sphinx translates a paragraph by parsing its msgstr as a new, separate document
(``sphinx.transforms.i18n.Locale``). MyST-NB's glue roles look their values up in the notebook
renderer of the document being parsed, which a translated paragraph does not have (and which
MyST-NB removes from the page once the page is parsed), so every ``{glue:text}`` in a translated
paragraph would come out empty, with a "No key ... in glue data" warning. This keeps the
renderer of the page just parsed and lends it to the documents parsed while that page is
translated.
"""

from __future__ import annotations

import contextvars
from typing import Any

from docutils import nodes

_last_renderer: list[Any] = [None]  # the renderer of the notebook parsed last (pages are read one at a time)
_page_renderer: contextvars.ContextVar[Any] = contextvars.ContextVar("page_renderer", default=None)
_lent_to: contextvars.ContextVar[list | None] = contextvars.ContextVar("lent_to", default=None)


def _keep_renderer(load_renderer):
    def load(name: str):
        renderer_class = load_renderer(name)

        def create(*args: Any, **kwargs: Any):
            _last_renderer[0] = renderer_class(*args, **kwargs)
            return _last_renderer[0]
        return create
    return load


def _lend_renderer(retrieve):
    def retrieve_glue_data(document: nodes.document, key: str):
        renderer = _page_renderer.get()
        if "nb_renderer" not in document and renderer is not None:
            document["nb_renderer"] = renderer
            _lent_to.get().append(document)
        return retrieve(document, key)
    return retrieve_glue_data


def _translate_with_renderer(apply):
    def translate(self: Any, **kwargs: Any) -> None:
        renderer = _last_renderer[0]
        if renderer is None or renderer.renderer.document is not self.document:
            renderer = None  # a page that is not a notebook: nothing glued
        token, lent = _page_renderer.set(renderer), _lent_to.set([])
        try:
            apply(self, **kwargs)
        finally:
            for document in _lent_to.get():  # taken back, or the page's doctree could not be pickled
                del document["nb_renderer"]
            _page_renderer.reset(token)
            _lent_to.reset(lent)
    return translate


def setup(app: Any) -> dict[str, Any]:
    from myst_nb import sphinx_
    from myst_nb.ext.glue import directives, roles
    from sphinx.transforms.i18n import Locale

    if not getattr(sphinx_, "_keeps_renderer", False):
        sphinx_.load_renderer = _keep_renderer(sphinx_.load_renderer)
        for module in (roles, directives):
            module.retrieve_glue_data = _lend_renderer(module.retrieve_glue_data)
        Locale.apply = _translate_with_renderer(Locale.apply)
        sphinx_._keeps_renderer = True
    return {"parallel_read_safe": True, "parallel_write_safe": True}
