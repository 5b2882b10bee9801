"""Exercise notebooks in other languages, made from the English solution notebooks and one
gettext catalog per assignment, so the two languages cannot drift apart.

``solutions/NN-topic/topic.ipynb`` stays the only hand-written notebook. Its translatable text
is each paragraph of a Markdown cell (a display-math paragraph stays as it is) and each
docstring of a code cell (module, function, class; dedented, so a translator never counts
spaces). The Chinese catalog of an assignment is ``locales/zh_CN/LC_MESSAGES/exercises/<id>.po``.

:func:`translate_notebook` swaps in the translations and nothing else: code outside docstrings,
cell metadata, nbgrader grade ids and points stay byte for byte. Links into the repository move
one folder up (the translation lives in ``exercises/zh_CN/<id>/``) and built pages point at the
Chinese site (``_build/html/zh_CN/``); the site link ``../../book/<chapter>.html`` is kept, as
the Chinese site serves its download two folders below its own root.

``python -m autograder.notebook_i18n update [ASSIGNMENT ...]`` creates or updates the catalogs
from ``solutions/`` (translations of unchanged text are kept; new text gets an empty entry; text
that is gone is kept as obsolete entries for reuse). ``python -m autograder.notebook_i18n check``
says which catalog lacks what. ``make exercises`` refuses to release while a catalog is missing,
incomplete or fuzzy.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.i18n import TRANSLATED
from autograder.paths import REPO_ROOT

LOCALES_DIR: Path = REPO_ROOT / "locales"
UPDATE_COMMAND = ".venv/bin/python -m autograder.notebook_i18n update {assignment}"

_PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n)")
_STRING_LITERAL = re.compile(r"^([rRuU]?)(\"\"\"|'''|\"|')(.*)\2$", re.S)
_DISPLAY_MATH = re.compile(r"^\s*\$\$.*\$\$\s*$", re.S)


class CatalogError(RuntimeError):
    """A catalog is missing, incomplete or holds fuzzy entries. The message is one line a person
    can act on: the file, what is wrong and the command that fixes it."""


@dataclass(frozen=True)
class Message:
    """One translatable text of a notebook: ``msgid`` and where it was found (``where``)."""

    msgid: str
    where: str


def catalog_path(assignment: Assignment, lang: str) -> Path:
    """``locales/<lang>/LC_MESSAGES/exercises/<id>.po``."""
    return LOCALES_DIR / lang / "LC_MESSAGES" / "exercises" / f"{assignment.id}.po"


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


_PROSE_IN_MATH = re.compile(r"\\text\{[^}]*[A-Za-z]{3,} [^}]*\}")  # \text{(likewise } is prose; \text{relu} is a name
_TEXT_IN_MATH = re.compile(r"\\text\{[^}]*\}")


def _translatable_paragraph(paragraph: str) -> bool:
    if _DISPLAY_MATH.match(paragraph):
        return _PROSE_IN_MATH.search(paragraph) is not None
    return bool(paragraph.strip()) and re.search(r"[A-Za-z]{2}", paragraph) is not None


def _markdown_parts(text: str) -> list[str]:
    """Paragraphs and the blank-line runs between them (even indices are paragraphs)."""
    return _PARAGRAPH_BREAK.split(text)


@dataclass(frozen=True)
class _Docstring:
    start: int  # character offsets of the literal's inner text in the cell's source
    end: int
    indent: str
    tail: str  # the closing quotes' line break and indentation, kept out of the msgid
    msgid: str
    name: str


def _dedent(inner: str) -> tuple[str, str, str]:
    """(indent, text, tail): the docstring's inner text without the indentation of its later
    lines and without the line the closing quotes sit on (``tail``), as long as it can be put
    back exactly; otherwise the text as it is."""
    tail = ""
    if "\n" in inner and not inner.rsplit("\n", 1)[1].strip():
        inner, last = inner.rsplit("\n", 1)
        tail = "\n" + last
    lines = inner.split("\n")
    body = [line for line in lines[1:] if line.strip()]
    indent = re.match(r"[ \t]*", body[0]).group(0) if body else ""
    for line in body:
        while not line.startswith(indent):
            indent = indent[:-1]
    text = "\n".join([lines[0], *(line[len(indent):] if line.strip() else line for line in lines[1:])])
    return (indent, text, tail) if _indent(text, indent) == inner else ("", inner, tail)


def _indent(text: str, indent: str) -> str:
    lines = text.split("\n")
    return "\n".join([lines[0], *(indent + line if line.strip() else line for line in lines[1:])])


def _docstrings(source: str) -> list[_Docstring]:
    """The docstrings of a code cell's module, functions and classes, in source order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # a cell with Jupyter-only syntax; it holds no docstring worth translating
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or not node.body:
            continue
        first = node.body[0]
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)):
            continue
        literal = first.value

        def offset(line: int, column: int) -> int:
            text = source[starts[line - 1]:starts[line] if line < len(starts) else len(source)]
            return starts[line - 1] + len(text.encode("utf-8")[:column].decode("utf-8"))

        start, end = offset(literal.lineno, literal.col_offset), offset(literal.end_lineno or literal.lineno, literal.end_col_offset or 0)
        match = _STRING_LITERAL.match(source[start:end])
        if match is None:
            continue  # implicitly joined literals: left as they are
        inner_start = start + len(match.group(1)) + len(match.group(2))
        indent, msgid, tail = _dedent(match.group(3))
        if msgid.strip():
            found.append(_Docstring(inner_start, inner_start + len(match.group(3)), indent, tail, msgid, getattr(node, "name", "module")))
    return sorted(found, key=lambda d: d.start)


def code_without_docstrings(source: str) -> str | None:
    """A cell's code with every docstring emptied (``ast.unparse``), so a cell and its
    translation compare; ``None`` when it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[0].value.value = ""
    return ast.unparse(tree)


def messages(notebook: dict[str, Any]) -> list[Message]:
    """Every translatable text of a notebook (JSON as read), in order, each once."""
    seen: dict[str, Message] = {}
    for index, cell in enumerate(notebook.get("cells", [])):
        source = _source(cell)
        if cell.get("cell_type") == "markdown":
            texts = [(p, f"markdown cell {index}") for p in _markdown_parts(source)[::2] if _translatable_paragraph(p)]
        elif cell.get("cell_type") == "code":
            texts = [(d.msgid, f"docstring of {d.name} in code cell {index}") for d in _docstrings(source)]
        else:
            texts = []
        for msgid, where in texts:
            seen.setdefault(msgid, Message(msgid, where))
    return list(seen.values())


def localize_links(markdown: str, lang: str) -> str:
    """Links of a notebook in ``exercises/<lang>/<id>/``: repository paths one folder deeper and
    built pages in the ``<lang>`` site; the site link ``../../book/<chapter>.html`` stays."""
    markdown = markdown.replace("_build/html/book/", f"_build/html/{lang}/book/")
    return re.sub(r"\]\(\.\./\.\./(?!book/[^)]*\.html\))", "](../../../", markdown)


def translate_notebook(notebook: dict[str, Any], translations: dict[str, str], lang: str, *, provenance: dict[str, str] | None = None) -> dict[str, Any]:
    """A copy of ``notebook`` (JSON) with its Markdown paragraphs and docstrings translated.

    Raises:
        CatalogError: a text has no translation in ``translations``.
    """
    result = copy.deepcopy(notebook)
    missing = [m.msgid for m in messages(notebook) if not translations.get(m.msgid)]
    if missing:
        raise CatalogError(f"no {lang} translation for {len(missing)} text(s), first: {_preview(missing[0])}")
    for cell in result.get("cells", []):
        source = _source(cell)
        if cell.get("cell_type") == "markdown":
            parts = _markdown_parts(source)
            for i in range(0, len(parts), 2):
                if _translatable_paragraph(parts[i]):
                    parts[i] = translations[parts[i]]
            cell["source"] = localize_links("".join(parts), lang)
        elif cell.get("cell_type") == "code":
            docstrings = _docstrings(source)
            original = source
            for docstring in reversed(docstrings):
                source = source[:docstring.start] + _indent(translations[docstring.msgid], docstring.indent) + docstring.tail + source[docstring.end:]
            if docstrings and code_without_docstrings(source) != code_without_docstrings(original):
                raise CatalogError(f"the {lang} translation of a docstring in {_preview(original.splitlines()[0])} changes the code (a quote or backslash?); fix it in the catalog")
            cell["source"] = source
    course = result.setdefault("metadata", {}).setdefault("cnn_course", {})
    course["language"] = lang
    if provenance:
        course["translated_from"] = provenance
    return result


# ``RST`` spans before `Markdown` ones, so the prose between two double-backtick spans is no code span
_MARKUP = re.compile(r"``[^`\n]+``|`[^`\n]+`|\$\$.+?\$\$|\$[^$\n]+\$|\]\([^)\s]+\)", re.S)
_DOCSTRING_SECTION = re.compile(r"^(Args|Returns|Raises|Yields|Attributes):$", re.M)
_DOCSTRING_ARGUMENT = re.compile(r"^    ([A-Za-z_][\w, *]*):", re.M)


def _argument_names(docstring: str) -> list[str]:
    """The names documented under ``Args:`` (Google style, four-space indent)."""
    names: list[str] = []
    for section in re.split(r"^(?=\S)", docstring, flags=re.M):
        if section.startswith("Args:"):
            names += _DOCSTRING_ARGUMENT.findall(section)
    return names


def markup_changes(msgid: str, msgstr: str) -> list[str]:
    """What a translation changed that must stay as it is: inline code, math (but the prose in
    its ``\\text{}``), link targets, docstring section headers (``Args:`` ...) and the argument names under ``Args:``. Empty when
    nothing was changed."""
    problems = []
    def tokens(text: str) -> list[str]:
        return sorted(re.sub(r"\s+", "", _TEXT_IN_MATH.sub(r"\\text{}", t)) if t.startswith("$") else t for t in _MARKUP.findall(text))

    source, translated = tokens(msgid), tokens(msgstr)
    if source != translated:
        lost = sorted(set(source) - set(translated)) or sorted(set(translated) - set(source)) or source
        problems.append(f"inline code, math or links differ, e.g. {lost[0]!r}")
    if _DOCSTRING_SECTION.findall(msgid) != _DOCSTRING_SECTION.findall(msgstr):
        problems.append(f"docstring sections {_DOCSTRING_SECTION.findall(msgid)} became {_DOCSTRING_SECTION.findall(msgstr)}")
    if _argument_names(msgid) != _argument_names(msgstr):
        problems.append(f"documented arguments {_argument_names(msgid)} became {_argument_names(msgstr)}")
    return problems


def _preview(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return repr(line if len(line) <= width else line[:width - 3] + "...")


# --- catalogs ---------------------------------------------------------------------------------

def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _read_solution(assignment: Assignment) -> dict[str, Any]:
    return json.loads(assignment.solution_path.read_text(encoding="utf-8"))


def load_translations(assignment: Assignment, lang: str, notebook: dict[str, Any] | None = None) -> dict[str, str]:
    """msgid -> msgstr for every text of the assignment's solution notebook (or ``notebook``).

    Raises:
        CatalogError: the catalog is missing, or a text of the notebook is untranslated, fuzzy
            or absent from it; the message names the file and the command that fixes it.
    """
    import polib

    path = catalog_path(assignment, lang)
    fix = UPDATE_COMMAND.format(assignment=assignment.id)
    if not path.is_file():
        raise CatalogError(f"{_relative(path)} does not exist: run `{fix}`, translate its empty msgstr entries, then `make exercises`.")
    try:
        entries = {e.msgid: e for e in polib.pofile(str(path)) if not e.obsolete}
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{_relative(path)} cannot be read as a .po file ({exc}); fix it or recreate it with `{fix}`.") from None
    wanted = messages(notebook if notebook is not None else _read_solution(assignment))
    absent = [m.msgid for m in wanted if m.msgid not in entries]
    fuzzy = [m.msgid for m in wanted if m.msgid in entries and entries[m.msgid].fuzzy]
    empty = [m.msgid for m in wanted if m.msgid in entries and not entries[m.msgid].msgstr and not entries[m.msgid].fuzzy]
    if absent:
        raise CatalogError(f"{_relative(path)} lacks {len(absent)} text(s) of {_relative(assignment.solution_path)} (first: {_preview(absent[0])}): "
                           f"run `{fix}`, translate the new empty msgstr entries, then `make exercises`.")
    if fuzzy or empty:
        first = (empty or fuzzy)[0]
        raise CatalogError(f"{_relative(path)} has {len(empty)} untranslated and {len(fuzzy)} fuzzy entr{'y' if len(empty) + len(fuzzy) == 1 else 'ies'} "
                           f"(first: {_preview(first)}): translate them and remove the fuzzy flags, then `make exercises`.")
    return {m.msgid: entries[m.msgid].msgstr for m in wanted}


def update_catalog(assignment: Assignment, lang: str) -> tuple[Path, int]:
    """Create or update the catalog from the solution notebook; returns (path, entries without
    a translation). Translations of texts still present are kept; a changed text gets a new
    empty entry and its old one stays as an obsolete entry (``#~``) for reuse."""
    import polib

    path = catalog_path(assignment, lang)
    old = polib.pofile(str(path)) if path.is_file() else None
    previous = {e.msgid: e for e in old if not e.obsolete} if old is not None else {}
    catalog = polib.POFile(wrapwidth=0)
    catalog.metadata = {
        "Project-Id-Version": f"cnn-course exercises {assignment.id}",
        "Language": lang,
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    source = _relative(assignment.solution_path)
    wanted = messages(_read_solution(assignment))
    for message in wanted:
        kept = previous.get(message.msgid)
        entry = polib.POEntry(msgid=message.msgid, msgstr=kept.msgstr if kept else "", occurrences=[(source, "")], comment=message.where)
        if kept is not None and kept.fuzzy:
            entry.flags.append("fuzzy")
        catalog.append(entry)
    current = {m.msgid for m in wanted}
    for msgid, entry in previous.items():
        if msgid not in current and entry.msgstr:
            catalog.append(polib.POEntry(msgid=msgid, msgstr=entry.msgstr, obsolete=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = str(catalog)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path, sum(1 for e in catalog if not e.obsolete and (not e.msgstr or e.fuzzy))


def translated_solution(assignment: Assignment, lang: str) -> dict[str, Any]:
    """The assignment's solution notebook (JSON) in ``lang``.

    Raises:
        CatalogError: the catalog is missing, incomplete or fuzzy.
    """
    notebook = _read_solution(assignment)
    return translate_notebook(notebook, load_translations(assignment, lang, notebook), lang, provenance=provenance(assignment, lang))


def provenance(assignment: Assignment, lang: str) -> dict[str, str]:
    """Where a translated notebook comes from, as its ``cnn_course.translated_from`` metadata."""
    return {"notebook": _relative(assignment.solution_path), "catalog": _relative(catalog_path(assignment, lang))}


def write_translated_sources(assignments: Sequence[Assignment], lang: str, source_dir: Path) -> None:
    """Write each assignment's translated solution notebook to ``source_dir/<id>/<notebook>``,
    an nbgrader source folder. Every catalog is checked before anything is written.

    Raises:
        CatalogError: a catalog is missing, incomplete or fuzzy (the first one found).
    """
    notebooks = {a: translated_solution(a, lang) for a in assignments}
    for assignment, notebook in notebooks.items():
        target = Path(source_dir) / assignment.id / assignment.notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def catalog_problems(assignments: Sequence[Assignment] = ASSIGNMENTS, languages: Sequence[str] = TRANSLATED) -> Iterator[str]:
    """One line per catalog that is missing, incomplete or fuzzy."""
    for lang in languages:
        for assignment in assignments:
            if assignment.solution_path.exists():
                try:
                    load_translations(assignment, lang)
                except CatalogError as exc:
                    yield str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.notebook_i18n", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("update", "check"), help="update: create or update the catalogs from solutions/; check: say what is untranslated")
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="ids or numbers (default: all)")
    parser.add_argument("--lang", choices=TRANSLATED, action="append", help="default: every translated language")
    args = parser.parse_args(argv)
    try:
        chosen = [get_assignment(key) for key in args.assignments] or [a for a in ASSIGNMENTS if a.solution_path.exists()]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    languages = args.lang or list(TRANSLATED)
    if args.command == "update":
        for lang in languages:
            for assignment in chosen:
                path, untranslated = update_catalog(assignment, lang)
                print(f"{_relative(path)}: {untranslated} entr{'y' if untranslated == 1 else 'ies'} to translate")
        return 0
    problems = list(catalog_problems(chosen, languages))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{len(chosen) * len(languages)} catalog(s) complete.")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
