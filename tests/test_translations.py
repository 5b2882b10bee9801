"""The Chinese edition's catalogs: in step with the English, complete, and faithful to what they
cannot change.

* The book's catalogs (``locales/zh_CN/LC_MESSAGES/book/<chapter>.po``, Sphinx i18n) hold every
  paragraph of a freshly generated English template and nothing else, all translated, none
  fuzzy: a changed English paragraph fails the suite until ``make catalogs`` and a translation.
* Each translation keeps its paragraph's roles ({glue:text}`key`: the numbers), math, links and
  substitutions, so a translation cannot silently drop a number or a reference.
* The package's catalogs (``autograder/locale/zh_CN/LC_MESSAGES/**.po``: grader messages and the
  words drawn in figures) are complete, keep their ``{placeholders}``, and cover every string
  marked with ``_``, ``N_`` or ``label`` in autograder/ and in the chapters' code cells.

The Chinese build itself is tested with the English one (tests/test_book.py, tests/test_browser.py).
"""

from __future__ import annotations

import collections
import io
import re
import string
import subprocess
import sys
from pathlib import Path

import polib
import pytest
import yaml

from autograder import book_build, i18n

REPO_ROOT = Path(__file__).resolve().parent.parent
BOOK_CATALOGS = REPO_ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "book"
PACKAGE_CATALOGS = i18n.LOCALE_DIR / i18n.CHINESE / "LC_MESSAGES"
TEMPLATES_TIMEOUT_S = 300
SHOWN = 5  # entries quoted in a failure message


def chapter_of(path: Path) -> str:
    return f"book/{path.stem}"


def short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------- the book's catalogs


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, polib.POFile]:
    """The English templates of the current pages, generated afresh (gettext builder, no execution)."""
    out = tmp_path_factory.mktemp("templates")
    run = subprocess.run([sys.executable, "-m", "autograder.book_build", "--templates", "--path-output", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=TEMPLATES_TIMEOUT_S)
    folder = book_build.gettext_dir(out) / "book"
    assert run.returncode == 0 and folder.is_dir(), f"the gettext build failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
    return {pot.stem: polib.pofile(str(pot)) for pot in sorted(folder.glob("*.pot"))}


def book_catalog(chapter: str) -> polib.POFile:
    return polib.pofile(str(BOOK_CATALOGS / f"{chapter}.po"))


def catalog_drift(template: polib.POFile, catalog: polib.POFile) -> tuple[list[str], list[str], list[str]]:
    """Paragraphs of the template missing from the catalog, the catalog's entries no page has
    any more, and its obsolete (``#~``) entries."""
    wanted = [entry.msgid for entry in template if entry.msgid]  # an empty table cell: nothing to translate
    present = {entry.msgid for entry in catalog if not entry.obsolete}
    missing = [msgid for msgid in wanted if msgid not in present]
    stale = [entry.msgid for entry in catalog if not entry.obsolete and entry.msgid not in set(wanted)]
    obsolete = [entry.msgid for entry in catalog.obsolete_entries()]
    return missing, stale, obsolete


def test_every_page_has_a_catalog_and_every_catalog_a_page(templates: dict[str, polib.POFile]) -> None:
    catalogs = sorted(p.stem for p in BOOK_CATALOGS.glob("*.po"))
    assert sorted(templates) == catalogs, f"pages {sorted(templates)} vs catalogs {catalogs} in {BOOK_CATALOGS}: run `make catalogs`"


def test_book_catalogs_hold_exactly_the_current_english_paragraphs(templates: dict[str, polib.POFile]) -> None:
    problems = []
    for chapter, template in templates.items():
        path = BOOK_CATALOGS / f"{chapter}.po"
        if not path.is_file():
            continue  # reported by the test above
        missing, stale, obsolete = catalog_drift(template, book_catalog(chapter))
        if missing:
            problems.append(f"book/{chapter}: {len(missing)} English paragraph(s) not in {path.relative_to(REPO_ROOT)}, e.g. {short(missing[0])!r}")
        if stale or obsolete:
            problems.append(f"book/{chapter}: {len(stale) + len(obsolete)} entr(y/ies) of {path.relative_to(REPO_ROOT)} no page has any more, e.g. {short((stale + obsolete)[0])!r}")
    assert not problems, "the Chinese catalogs are out of step with the English pages; run `make catalogs`, then translate:\n" + "\n".join(problems)


def test_book_catalogs_are_fully_translated_and_not_fuzzy() -> None:
    problems = []
    for path in sorted(BOOK_CATALOGS.glob("*.po")):
        catalog = polib.pofile(str(path))
        untranslated, fuzzy = catalog.untranslated_entries(), catalog.fuzzy_entries()
        if untranslated or fuzzy:
            example = (fuzzy + untranslated)[0].msgid
            problems.append(f"{chapter_of(path)}: {len(untranslated)} untranslated, {len(fuzzy)} fuzzy (English changed) in {path.relative_to(REPO_ROOT)}, e.g. {short(example)!r}")
    assert not problems, "translate these paragraphs (and remove the fuzzy flag once a changed one is checked):\n" + "\n".join(problems)


def test_make_catalogs_is_idempotent_and_keeps_translations(templates: dict[str, polib.POFile], tmp_path: Path) -> None:
    """``make catalogs``' merge, run twice on a copy of the catalogs with one paragraph
    translated: the second run rewrites nothing (no dates churn), the translation stays."""
    import shutil

    locales = tmp_path / "locales"
    shutil.copytree(BOOK_CATALOGS.parent.parent, locales / "zh_CN")
    chapter = next(iter(templates))
    catalog_path = locales / "zh_CN" / "LC_MESSAGES" / "book" / f"{chapter}.po"
    templates_dir = next(iter(templates.values())).fpath
    assert book_build.merge_templates(Path(templates_dir).parent.parent, locales, quiet=True) == 0
    catalog = polib.pofile(str(catalog_path))
    first = next(e for e in catalog if e.msgid and not e.obsolete)
    first.msgstr, first.flags = "译文", []
    catalog.save()
    before = {p: p.read_bytes() for p in sorted(locales.rglob("*.po"))}
    assert book_build.merge_templates(Path(templates_dir).parent.parent, locales, quiet=True) == 0
    assert {p: p.read_bytes() for p in sorted(locales.rglob("*.po"))} == before, "a second `make catalogs` rewrote catalogs"
    assert polib.pofile(str(catalog_path)).find(first.msgid).msgstr == "译文"


# What a translation must keep: every role's target ({glue:text}`key`, {numref}`Figure %s <fig-x>`),
# every formula ($...$, $$...$$), link target and {{ substitution }}, compared as sets: Chinese
# word order may repeat a formula ("一个 $3 \times 3$ 卷积接另一个 $3 \times 3$ 卷积"), but
# nothing may be dropped, changed or added.
ROLE = re.compile(r"\{([\w:.-]+)\}`([^`]*)`")
MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.S)
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)|<((?:https?|mailto):[^>\s]+)>")
SUBSTITUTION = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


CODE = re.compile(r"`([^`]+)`")
TEXT_IN_MATH = re.compile(r"\\text\{[^{}]*\}")
# The Chinese pages offer the Chinese exercise notebooks: exercises/zh_CN/NN-topic/ in a
# translation stands for the English exercises/NN-topic/.
CHINESE_EXERCISES = re.compile(r"exercises/zh_CN/(?=\d\d-)")


def kept_markup(text: str) -> dict[str, set]:
    """The parts of a paragraph a translation must keep, each as a set."""
    text = CHINESE_EXERCISES.sub("exercises/", text)
    roles = set()
    for role, content in ROLE.findall(text):
        target = re.search(r"<([^<>]+)>\s*$", content)  # {ref}`text <target>`: the text may change
        roles.add((role, target.group(1) if target else content))
    outside_roles = ROLE.sub("", text)
    # prose inside a formula (\text{fan-in}) is translated like any other prose
    formulas = {" ".join(TEXT_IN_MATH.sub(r"\\text{}", a or b).split()) for a, b in MATH.findall(outside_roles)}
    unpaired = outside_roles.replace("\\$", "").count("$") % 2
    return {
        "roles": roles,
        "math": formulas | ({"(an unpaired $)"} if unpaired else set()),
        "links": {a or b for a, b in LINK_TARGET.findall(outside_roles)},
        "substitutions": set(SUBSTITUTION.findall(outside_roles)),
        "code": set(CODE.findall(MATH.sub("", outside_roles))),
    }


def markup_differences(msgid: str, msgstr: str) -> list[str]:
    want, got = kept_markup(msgid), kept_markup(msgstr)
    return [f"{kind}: English {sorted(want[kind])}, translation {sorted(got[kind])}" for kind in want if want[kind] != got[kind]]


def test_markup_check_catches_a_dropped_number_math_or_link() -> None:
    english = "The error is {glue:text}`err` on $n$ [pixels](#fig-x), see {numref}`Figure %s <fig-y>`."
    assert not markup_differences(english, "误差为 {glue:text}`err`, 作用于 $n$ 个[像素](#fig-x), 见{numref}`图 %s <fig-y>`。")
    assert markup_differences(english, "误差很小, 作用于 $n$ 个[像素](#fig-x), 见{numref}`图 %s <fig-y>`。")  # number dropped
    assert markup_differences(english, "误差为 {glue:text}`err`, 作用于 n 个[像素](#fig-x), 见{numref}`图 %s <fig-y>`。")  # math
    assert markup_differences(english, "误差为 {glue:text}`err`, 作用于 $n$ 个像素, 见{numref}`图 %s <fig-y>`。")  # link
    assert markup_differences(english, "误差为 {glue:text}`other`, 作用于 $n$ 个[像素](#fig-x), 见{numref}`图 %s <fig-y>`。")  # wrong key
    assert markup_differences(english, "误差为 {glue:text}`err`, 作用于 $m$ 个[像素](#fig-x), 见{numref}`图 %s <fig-y>`。")  # changed formula
    assert not markup_differences("a $3 \\times 3$ conv after another", "一个 $3 \\times 3$ 卷积接另一个 $3 \\times 3$ 卷积")  # repeated
    assert markup_differences("call `fit` twice", "调用 fit 两次")  # code span
    link = "{download}`x <../exercises/03-pooling/pooling.ipynb>`"
    assert not markup_differences(link, link.replace("exercises/", "exercises/zh_CN/"))  # the Chinese notebook
    assert markup_differences(link, link.replace("03-pooling", "04-backprop"))


def test_book_translations_keep_roles_math_links_and_substitutions() -> None:
    problems = []
    for path in sorted(BOOK_CATALOGS.glob("*.po")):
        for entry in polib.pofile(str(path)).translated_entries():
            for difference in markup_differences(entry.msgid, entry.msgstr):
                problems.append(f"{chapter_of(path)}: {short(entry.msgid, 60)!r}: {difference}")
    assert not problems, f"{len(problems)} translation(s) lost or changed markup:\n" + "\n".join(problems[:40])


# ---------------------------------------------------------------- the package's catalogs


def package_catalogs() -> list[Path]:
    return sorted(PACKAGE_CATALOGS.rglob("*.po"))


def placeholders(text: str) -> collections.Counter:
    """``{name}`` fields (with their format specs) of a str.format template."""
    try:
        return collections.Counter(f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if name is not None)
    except ValueError as error:
        return collections.Counter({f"unparseable ({error})": 1})


def test_package_catalogs_are_complete_and_keep_their_placeholders() -> None:
    assert package_catalogs(), f"no catalogs in {PACKAGE_CATALOGS}"
    problems = []
    for path in package_catalogs():
        catalog = polib.pofile(str(path))
        where = path.relative_to(REPO_ROOT)
        problems += [f"{where}: fuzzy {short(e.msgid)!r}" for e in catalog.fuzzy_entries()]
        problems += [f"{where}: untranslated {short(e.msgid)!r}" for e in catalog.untranslated_entries()]
        for entry in catalog.translated_entries():
            if placeholders(entry.msgid) != placeholders(entry.msgstr):
                problems.append(f"{where}: {short(entry.msgid, 60)!r}: placeholders {sorted(placeholders(entry.msgid))} became {sorted(placeholders(entry.msgstr))}")
    assert not problems, "\n".join(problems)


CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


def chapter_code(path: Path) -> str:
    """The Python of a chapter's code cells (their YAML options and IPython magics left out)."""
    cells = []
    for match in CODE_CELL.finditer(path.read_text(encoding="utf-8")):
        code = match.group(1)
        if code.startswith("---\n"):
            code = code.split("\n---\n", 1)[1]
        cells.append("\n".join(line for line in code.splitlines() if not line.startswith((":", "%", "!"))))
    return "\n".join(cells)


def marked_strings() -> dict[str, dict[str, set[str]]]:
    """domain -> message -> where it is marked: ``_``/``N_`` (grader, in autograder/) and ``label``
    or ``label_if`` (book, in autograder/ and in the chapters' code cells), found by babel's
    Python extractor."""
    from babel.messages.extract import extract

    sources = [(p, p.read_text(encoding="utf-8")) for p in sorted((REPO_ROOT / "autograder").rglob("*.py"))]
    sources += [(p, chapter_code(p)) for p in sorted((REPO_ROOT / "book").glob("*.md"))]
    # label_if(template, translated) in autograder/book/tables.py: label() when drawn
    keywords = {"autograder": {"_": None, "N_": None}, "book": {"label": None, "label_if": (1,)}}
    found: dict[str, dict[str, set[str]]] = {domain: collections.defaultdict(set) for domain in keywords}
    for path, text in sources:
        for domain, marks in keywords.items():
            if path.suffix == ".md" and domain != "book":
                continue
            for _line, message, _comments, _context in extract("python", io.BytesIO(text.encode("utf-8")), keywords=marks, options={"encoding": "utf-8"}):
                found[domain][message].add(str(path.relative_to(REPO_ROOT)))
    return found


def test_the_extractor_finds_each_kind_of_mark(tmp_path: Path) -> None:
    from babel.messages.extract import extract

    code = 'x = _("a {n}").format(n=1)\nY = N_("b")\nax.set_title(label("c"))\nax.set(xlabel=i18n.label("d"))\nfor _ in range(3): pass\n'
    got = {m for _l, m, _c, _x in extract("python", io.BytesIO(code.encode()), keywords={"_": None, "N_": None, "label": None})}
    assert got == {"a {n}", "b", "c", "d"}
    chapter = tmp_path / "page.md"
    chapter.write_text('# t\n\n```{code-cell} ipython3\n---\ntags: [hide-input]\n---\n%matplotlib inline\nplt.title(label("e"))\n```\n', encoding="utf-8")
    assert 'label("e")' in chapter_code(chapter) and "%matplotlib" not in chapter_code(chapter)


def test_every_marked_string_has_a_translation() -> None:
    problems = []
    for domain, messages in marked_strings().items():
        translated = i18n.catalog(domain, i18n.CHINESE)
        for message, places in sorted(messages.items()):
            if message not in translated:
                problems.append(f"{domain}: {short(message, 70)!r} (marked in {', '.join(sorted(places))})")
    assert not problems, (
        f"{len(problems)} marked string(s) without a Chinese translation: add them to "
        f"{PACKAGE_CATALOGS.relative_to(REPO_ROOT)}/<domain>.po or <domain>/*.po:\n" + "\n".join(problems[:60])
    )


PROMPT = re.compile(r"^\s*code_prompt_(?:show|hide):\s*[\"']?(.*?)[\"']?\s*$", re.M)
MYST_NB_PROMPTS = [f"{verb} code cell {kind}" for verb in ("Show", "Hide") for kind in ("source", "content", "output", "outputs")]


def test_every_collapsed_cell_prompt_has_a_translation() -> None:
    """The prompts of collapsed cells (cell metadata, translated by autograder/site_languages.py)."""
    prompts = {m for p in sorted((REPO_ROOT / "book").glob("*.md")) for m in PROMPT.findall(p.read_text(encoding="utf-8"))}
    assert "Show the set-up code" in prompts
    translated = i18n.catalog("book", i18n.CHINESE)
    missing = sorted(p for p in prompts | set(MYST_NB_PROMPTS) if p not in translated)
    assert not missing, f"collapsed-cell prompts without a translation in {PACKAGE_CATALOGS.relative_to(REPO_ROOT)}/book.po: {missing}"


CAPTION = re.compile(r"^\s*caption:\s*(.+?)\s*$", re.M)


def test_every_figure_caption_has_a_translation() -> None:
    """The captions of figures drawn by code cells (cell metadata, translated by
    autograder/site_languages.py from book/captions.po)."""
    captions = {yaml.safe_load(m) for p in sorted((REPO_ROOT / "book").glob("*.md")) for m in CAPTION.findall(p.read_text(encoding="utf-8"))}
    assert len(captions) > 20
    translated = i18n.catalog("book", i18n.CHINESE)
    missing = sorted(c for c in captions if c not in translated)
    assert not missing, f"figure captions without a translation in {PACKAGE_CATALOGS.relative_to(REPO_ROOT)}/book/captions.po: {missing}"
