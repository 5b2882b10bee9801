"""Build the website in both languages, and the translation templates.

* English: ``jupyter-book build -W --keep-going`` into ``<out>/_build/html/`` (as it always was);
* Chinese: the same configuration (``_config.yml``, nothing copied) built by Jupyter Book's own
  Sphinx entry point with ``language=zh_CN`` into ``<out>/_build/html/zh_CN/``. Its notebooks
  execute with ``CNN_COURSE_LANG=zh_CN`` in the kernels' environment (so
  :func:`autograder.i18n.label` draws Chinese words) and with their own execution cache
  ``<out>/_build/.jupyter_cache_zh_CN``, so the two languages never share executed outputs; that
  cache is emptied when the figure words (``autograder/locale/zh_CN/.../book.po``) change.

The two builds run at the same time (two processes; the chapters' execution dominates and a
kernel uses one core), each with ``-W --keep-going``; the output of each is prefixed with its
language. ``--catalogs`` instead writes the English message templates (Sphinx's gettext
builder, nothing executed) to ``<out>/_build/gettext/`` and updates ``locales/zh_CN`` with
sphinx-intl.

    python -m autograder.book_build                  # both languages (make book)
    python -m autograder.book_build --lang zh_CN     # one
    python -m autograder.book_build --catalogs       # make catalogs
    python -m autograder.book_build --templates --path-output DIR   # only the templates (the tests)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Sequence

from autograder.i18n import ENGLISH, LANG_ENV_VAR, LANGUAGES, TRANSLATED, catalog_files
from autograder.paths import REPO_ROOT

LOCALES = REPO_ROOT / "locales"


def html_dir(out: Path, lang: str) -> Path:
    """Where a language's site goes: ``<out>/_build/html`` (English) or ``<out>/_build/html/<lang>``."""
    root = Path(out) / "_build" / "html"
    return root if lang == ENGLISH else root / lang


def gettext_dir(out: Path) -> Path:
    """Where ``--catalogs`` writes the English templates (one ``book/<chapter>.pot`` per chapter)."""
    return Path(out) / "_build" / "gettext"


def command(lang: str, out: Path, force_all: bool = False) -> list[str]:
    """The command line that builds ``lang`` into :func:`html_dir`."""
    if lang == ENGLISH:
        jupyter_book = str(Path(sys.executable).parent / "jupyter-book")
        return [jupyter_book, "build", "-W", "--keep-going", *(["--all"] if force_all else []), "--path-output", str(out), str(REPO_ROOT)]
    return [sys.executable, "-m", "autograder.book_build", "--translation", lang, "--path-output", str(out), *(["--all"] if force_all else [])]


def environment(lang: str) -> dict[str, str]:
    """The build's environment, which the notebooks' kernels inherit."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", LANG_ENV_VAR: lang}


def sphinx_overrides(lang: str, out: Path, builder: str = "html") -> dict[str, object]:
    """What a translated (or gettext) build sets on top of ``_config.yml``."""
    overrides: dict[str, object] = {"external_toc_path": str(REPO_ROOT / "_toc.yml"), "latex_individualpages": False}
    if builder == "gettext":
        overrides["nb_execution_mode"] = "off"  # the templates hold the Markdown only
    else:
        overrides["language"] = lang
        overrides["nb_execution_cache_path"] = str(Path(out) / "_build" / f".jupyter_cache_{lang}")
    return overrides


def words_digest(lang: str) -> str:
    """A digest of the catalog the kernels draw figures with (``label()``'s ``book`` domain)."""
    digest = hashlib.sha256()
    for path in catalog_files("book", lang):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def forget_stale_outputs(lang: str, out: Path) -> bool:
    """Empty a translated build's execution cache when the figure words changed since it was
    filled (jupyter-cache keys a notebook by its code only, so a changed ``book.po`` would
    otherwise keep the old labels); returns whether it did."""
    cache = Path(str(sphinx_overrides(lang, out)["nb_execution_cache_path"]))
    stamp = cache.parent / f"{cache.name}.words"
    current = words_digest(lang)
    stale = cache.exists() and (not stamp.is_file() or stamp.read_text(encoding="utf-8") != current)
    if stale:
        shutil.rmtree(cache)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current, encoding="utf-8")
    return stale


def _sphinx(lang: str, out: Path, builder: str, force_all: bool) -> int:
    """Jupyter Book's Sphinx entry point on the repository's _config.yml (what ``jupyter-book
    build`` does), into a language's own output and doctree folders."""
    from jupyter_book.sphinx import build_sphinx

    if builder == "html" and lang != ENGLISH and forget_stale_outputs(lang, out):
        print(f"{lang}: the figure words changed ({', '.join(p.name for p in catalog_files('book', lang))}); re-executing every chapter", flush=True)
        force_all = True
    target = gettext_dir(out) if builder == "gettext" else html_dir(out, lang)
    doctrees = Path(out) / "_build" / (".doctrees_gettext" if builder == "gettext" else f".doctrees_{lang}")
    result = build_sphinx(
        REPO_ROOT,
        target,
        noconfig=True,
        path_config=str(REPO_ROOT / "_config.yml"),
        confoverrides=sphinx_overrides(lang, out, builder),
        doctreedir=doctrees,
        builder=builder,
        freshenv=force_all,
        warningiserror=builder == "html",
        keep_going=True,
    )
    return 1 if isinstance(result, Exception) else int(result or 0)


def _relay(stream: IO[str], prefix: str, sink: IO[str], log: IO[str] | None) -> None:
    for line in stream:
        sink.write(f"{prefix}{line}")
        sink.flush()
        if log is not None:
            log.write(line)


TIMED_OUT = 124  # the status of a build stopped at its deadline


def build(languages: Sequence[str], out: Path = REPO_ROOT, force_all: bool = False, logs: dict[str, Path] | None = None, sink: IO[str] = sys.stdout, timeout_s: float | None = None) -> dict[str, int]:
    """Build ``languages`` at the same time; return each one's exit status.

    Args:
        languages: e.g. ``("en", "zh_CN")``.
        out: the ``--path-output`` folder; the sites go to :func:`html_dir`.
        force_all: rebuild every page (``--all``), as from clean.
        logs: where to also write each language's output, e.g. ``{"en": Path("en.log")}``.
        sink: where the prefixed output goes (one line at a time).
        timeout_s: stop every build still running after this many seconds (status ``TIMED_OUT``).
    """
    processes, relays, files = {}, [], []
    for lang in languages:
        process = subprocess.Popen(command(lang, out, force_all), cwd=REPO_ROOT, env=environment(lang), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace")
        log = open(logs[lang], "w", encoding="utf-8") if logs and lang in logs else None  # noqa: SIM115 - closed below
        files += [log] if log else []
        prefix = f"[{lang}] " if len(languages) > 1 else ""
        relays.append(threading.Thread(target=_relay, args=(process.stdout, prefix, sink, log), daemon=True))
        relays[-1].start()
        processes[lang] = process
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    statuses = {}
    for lang, process in processes.items():
        try:
            statuses[lang] = process.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            statuses[lang] = TIMED_OUT
    for relay in relays:
        relay.join()
    for log in files:
        log.close()
    return statuses


def write_templates(out: Path = REPO_ROOT) -> int:
    """Write the English message templates, one ``book/<chapter>.pot`` per chapter, into
    :func:`gettext_dir` (Sphinx's gettext builder; the notebooks are not executed)."""
    return _sphinx(ENGLISH, out, "gettext", force_all=True)


def update_catalogs(out: Path = REPO_ROOT) -> int:
    """Write the English templates, then merge them into ``locales/<lang>`` with sphinx-intl
    (new paragraphs arrive untranslated, changed ones fuzzy with their old translation, deleted ones
    are dropped; a catalog whose paragraphs did not change is not rewritten, so no dates churn)."""
    return write_templates(out) or merge_templates(gettext_dir(out))


def merge_templates(templates: Path, locales: Path = LOCALES, quiet: bool = False) -> int:
    """``sphinx-intl update`` of every translated language's catalogs in ``locales`` from the
    templates in ``templates``; returns its exit status."""
    for lang in TRANSLATED:
        update = [str(Path(sys.executable).parent / "sphinx-intl"), "update", "--no-obsolete", "-j", "1", "-p", str(templates), "-l", lang, "-d", str(locales)]
        status = subprocess.run(update, cwd=REPO_ROOT, check=False, capture_output=quiet).returncode
        if status:
            return status
        for catalog in sorted((locales / lang / "LC_MESSAGES" / "book").glob("*.po")):
            drop_format_flags(catalog)
    return 0


# Babel flags prose such as "95 % on" as a Python format string ("% o"), and msgfmt then rejects a
# translation that words it differently; book paragraphs are never formatted, so their catalogs
# carry no format flags at all.
FORMAT_FLAGS = frozenset({"python-format", "no-python-format", "python-brace-format", "no-python-brace-format"})


def drop_format_flags(catalog: Path) -> None:
    """Remove the (python, python-brace) format flags from a book catalog, in place."""
    lines = catalog.read_text(encoding="utf-8").split("\n")
    kept = []
    for line in lines:
        if line.startswith("#,"):
            flags = [flag.strip() for flag in line[2:].split(",") if flag.strip() not in FORMAT_FLAGS]
            if not flags:
                continue
            line = "#, " + ", ".join(flags)
        kept.append(line)
    text = "\n".join(kept)
    if text != "\n".join(lines):
        catalog.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.book_build", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", nargs="+", choices=LANGUAGES, default=list(LANGUAGES), help="the languages to build (default: all)")
    parser.add_argument("--path-output", type=Path, default=REPO_ROOT, help="the sites go to PATH/_build/html[/<lang>] (default: the repository)")
    parser.add_argument("--all", action="store_true", help="rebuild every page, as from clean")
    parser.add_argument("--catalogs", action="store_true", help="regenerate the English templates and update locales/ (no execution)")
    parser.add_argument("--templates", action="store_true", help="only write the English templates into PATH/_build/gettext")
    parser.add_argument("--translation", choices=TRANSLATED, help=argparse.SUPPRESS)  # one translated build, in this process
    args = parser.parse_args(argv)
    if args.catalogs:
        return update_catalogs(args.path_output)
    if args.templates:
        return write_templates(args.path_output)
    if args.translation:
        return _sphinx(args.translation, args.path_output, "html", args.all)
    statuses = build(args.lang, args.path_output, args.all)
    failed = [lang for lang, status in statuses.items() if status]
    for lang in args.lang:
        print(f"{lang}: {'FAILED' if lang in failed else 'built'} -> file://{html_dir(args.path_output.resolve(), lang) / 'index.html'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
