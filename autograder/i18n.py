"""Which language the course speaks, and its translations (gettext catalogs read from .po files).

Two domains of catalogs live in the package, one per audience:

- ``autograder``: the grader's messages, hints and report headings;
- ``book``: words drawn into the book's figures and tables (axis labels, legends), so the
  Chinese build of the book draws Chinese figures.

A domain's catalog is ``autograder/locale/<lang>/LC_MESSAGES/<domain>.po`` together with every
``.po`` file in the folder ``autograder/locale/<lang>/LC_MESSAGES/<domain>/`` (one file per
module or assignment, e.g. ``autograder/checks.training.po``, so that work on one assignment
never edits another's catalog).

The book's prose is translated by Sphinx from ``locales/`` at the repository root, not here.
The catalogs are read straight from their .po files (no compiled .mo files to keep in sync).

The language is, first to last: an explicit :func:`set_language`, ``$CNN_COURSE_LANG``, then
``$LC_ALL``, ``$LC_MESSAGES`` and ``$LANG`` (a value starting with ``zh`` means Chinese); English
otherwise. An English message is its own translation, so an untranslated string stays English.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

LOCALE_DIR: Path = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"
CHINESE = "zh_CN"
LANGUAGES: tuple[str, ...] = (ENGLISH, CHINESE)
TRANSLATED: tuple[str, ...] = tuple(lang for lang in LANGUAGES if lang != ENGLISH)  # with catalogs, and a site of their own
LANG_ENV_VAR = "CNN_COURSE_LANG"

_chosen: str | None = None


def normalise(value: str | None) -> str | None:
    """``"zh_CN.UTF-8"``, ``"zh"``, ``"zh-cn"`` -> ``"zh_CN"``; ``"en_US"``, ``"C"`` -> ``"en"``; empty -> None."""
    if not value:
        return None
    value = value.strip()
    if not value:
        return None
    if value.lower().startswith("zh"):
        return CHINESE
    return ENGLISH


def set_language(value: str | None) -> str:
    """Choose the language for this process (``None`` goes back to the environment's); returns it.

    Raises:
        ValueError: for a value that is neither English nor Chinese, e.g. ``"fr"``.
    """
    global _chosen
    if value is not None and value.strip().lower()[:2] not in ("en", "zh"):
        raise ValueError(f"unknown language {value!r}: use one of {', '.join(LANGUAGES)}")
    _chosen = normalise(value)
    return language()


def language() -> str:
    """The current language: ``"en"`` or ``"zh_CN"``."""
    if _chosen:
        return _chosen
    for variable in (LANG_ENV_VAR, "LC_ALL", "LC_MESSAGES", "LANG"):
        found = normalise(os.environ.get(variable))
        if found:
            return found
    return ENGLISH


@functools.lru_cache(maxsize=None)
def catalog(domain: str, lang: str) -> dict[str, str]:
    """The translated messages of ``domain`` in ``lang`` (msgid -> msgstr), fuzzy and empty ones left out."""
    if lang == ENGLISH:
        return {}
    return {
        entry.msgid: entry.msgstr
        for path in catalog_files(domain, lang)
        for entry in _read_po(path)
        if entry.msgstr and not entry.fuzzy and not entry.obsolete
    }


def catalog_files(domain: str, lang: str) -> list[Path]:
    """The .po files that make up ``domain`` in ``lang``, in a fixed order."""
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    single = folder / f"{domain}.po"
    files = [single] if single.is_file() else []
    return files + sorted((folder / domain).glob("*.po"))


def _read_po(path: Path) -> list:
    import polib  # only when a translation is asked for

    return list(polib.pofile(str(path)))


def translate(message: str, domain: str = "autograder", lang: str | None = None) -> str:
    """``message`` in ``lang`` (default: the current language); the English when it has no translation."""
    return catalog(domain, lang or language()).get(message, message)


def _(message: str) -> str:
    """Mark and translate a grader message: ``_("{name} returned {got}").format(name=..., got=...)``."""
    return translate(message, "autograder")


def label(message: str) -> str:
    """Mark and translate a word drawn in a book figure or table (the ``book`` catalog)."""
    return translate(message, "book")


def N_(message: str) -> str:
    """Mark a message for the catalog without translating it yet (module-level constants such as
    hints): it is translated where it is shown, e.g. ``_(ZERO_PADDING)``, so the language chosen
    at run time applies. ``pybabel extract -k _ -k N_ -k label`` finds all three markers."""
    return message
