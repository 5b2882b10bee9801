"""The Chinese exercise notebooks (``exercises/zh_CN/``): made from the English solutions and one
catalog per assignment (``locales/zh_CN/LC_MESSAGES/exercises/``), complete, never drifting,
with the English code, metadata and points, and graded exactly like the English ones."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import polib
import pytest

from autograder import notebook_i18n
from autograder.assignments import ASSIGNMENTS, Assignment, get_assignment
from autograder.batch import discover, grade_batch
from autograder.engine import Submission, grade_many
from autograder.notebook_i18n import (
    CatalogError,
    catalog_path,
    code_without_docstrings,
    load_translations,
    markup_changes,
    messages,
    provenance,
    translate_notebook,
    update_catalog,
    write_translated_sources,
)
from autograder.paths import EXERCISES_DIR, REPO_ROOT
from autograder.registry import checks_for
from autograder.release import ReleaseError, generate_translations, main, read_normalized

LANG = "zh_CN"
CHINESE_DIR = EXERCISES_DIR / LANG
GATE = "06.train.accuracy"  # trains for a minute; conftest and test_nbgrader_parity grade it already
PARAMS = [pytest.param(a, id=a.id) for a in ASSIGNMENTS]


def _source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _cells(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


# --- catalogs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("assignment", PARAMS)
def test_every_catalog_is_fully_translated_without_fuzzy_entries(assignment: Assignment) -> None:
    translations = load_translations(assignment, LANG)  # a missing or incomplete catalog fails here, naming the file and the command
    entries = [e for e in polib.pofile(str(catalog_path(assignment, LANG))) if not e.obsolete]
    assert entries and not [e.msgid[:60] for e in entries if not e.msgstr or e.fuzzy]
    assert set(translations) == {e.msgid for e in entries}, f"{catalog_path(assignment, LANG).name} holds texts the solution no longer has: run `python -m autograder.notebook_i18n update {assignment.id}`"


@pytest.mark.parametrize("assignment", PARAMS)
def test_translations_keep_code_math_links_and_docstring_sections(assignment: Assignment) -> None:
    problems = [f"{e.msgid[:50]!r}: {p}" for e in polib.pofile(str(catalog_path(assignment, LANG))) if not e.obsolete for p in markup_changes(e.msgid, e.msgstr)]
    assert not problems, f"{catalog_path(assignment, LANG).name}: {problems}"


def test_markup_changes_notices_a_changed_code_span_a_lost_argument_and_a_translated_header() -> None:
    assert markup_changes("Use `corr2d` on $X$ [here](../../book/x.md).", "在 $X$ 上使用 `corr2d`（[这里](../../book/x.md)）。") == []
    assert markup_changes("Use `corr2d`.", "使用 `corr2D`。")
    assert markup_changes("Sum.\n\nArgs:\n    x: in.\n    k: kernel.", "求和。\n\nArgs:\n    x: 输入。")
    assert markup_changes("Sum.\n\nReturns:\n    y.", "求和。\n\n返回:\n    y。")
    # the words between two ``double-backtick`` spans are prose, free to translate
    assert markup_changes("``x[i]`` is ``(a, b)``.", "``x[i]`` 是 ``(a, b)``。") == []
    assert markup_changes("``x[i]`` is ``(a, b)``.", "``x[i]`` 是 ``(a, c)``。")


def test_a_changed_english_paragraph_fails_until_it_is_translated() -> None:
    assignment = get_assignment("03")
    notebook = json.loads(assignment.solution_path.read_text(encoding="utf-8"))
    markdown = next(c for c in notebook["cells"][1:] if c["cell_type"] == "markdown")
    markdown["source"] = _source(markdown) + "\n\nA new paragraph nobody has translated yet."
    with pytest.raises(CatalogError) as raised:
        load_translations(assignment, LANG, notebook)
    message = str(raised.value)
    assert "locales/zh_CN/LC_MESSAGES/exercises/03-pooling.po" in message and "python -m autograder.notebook_i18n update 03-pooling" in message
    assert "A new paragraph" in message and "\n" not in message


def test_a_missing_catalog_stops_make_exercises_naming_the_file_and_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(notebook_i18n.LOCALES_DIR, tmp_path / "locales")
    (tmp_path / "locales" / LANG / "LC_MESSAGES" / "exercises" / "01-convolution.po").unlink()  # as for a newly added assignment
    monkeypatch.setattr(notebook_i18n, "LOCALES_DIR", tmp_path / "locales")
    assert main(["01", "--output", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "exercises/01-convolution.po does not exist" in error and "python -m autograder.notebook_i18n update 01-convolution" in error
    assert not (tmp_path / "out").exists(), "nothing is released while a catalog is missing"
    with pytest.raises(ReleaseError, match="01-convolution.po does not exist"):
        generate_translations(["01-convolution"], tmp_path / "out")
    assert main(["01", "--output", str(tmp_path / "out"), "--english-only"]) == 0
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file()) == [".released.json", "01-convolution/convolution.ipynb"]


def test_update_keeps_translations_adds_new_text_empty_and_keeps_old_text_obsolete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assignment = get_assignment("03")
    shutil.copytree(notebook_i18n.LOCALES_DIR, tmp_path / "locales")
    monkeypatch.setattr(notebook_i18n, "LOCALES_DIR", tmp_path / "locales")
    path = catalog_path(assignment, LANG)
    catalog = polib.pofile(str(path))
    dropped = catalog[3]
    catalog.remove(dropped)
    catalog.append(polib.POEntry(msgid="A paragraph the solution no longer has.", msgstr="一个已删除的段落。"))
    catalog.save()
    assert update_catalog(assignment, LANG) == (path, 1)
    updated = polib.pofile(str(path))
    assert updated.find(dropped.msgid).msgstr == "" and updated.find("A paragraph the solution no longer has.", include_obsolete_entries=True).obsolete
    assert len(updated.translated_entries()) == len(messages(json.loads(assignment.solution_path.read_text(encoding="utf-8")))) - 1
    with pytest.raises(CatalogError, match="1 untranslated"):
        load_translations(assignment, LANG)


# --- the released notebooks --------------------------------------------------------------------

def _expected_chinese_exercise(assignment: Assignment) -> nbformat.NotebookNode:
    """What nbgrader makes of the Chinese solution, computed without running nbgrader: the
    English exercise (nbgrader's output for the English solution; tests/test_release.py keeps it
    current) translated, each changed cell with nbgrader's checksum. Translating and releasing
    commute because nbgrader never reads docstrings or Markdown, and translating never touches a
    solution region; test_one_chinese_exercise_released_by_nbgrader_is_the_committed_one checks it."""
    from nbgrader.utils import compute_checksum

    english = read_normalized(assignment.exercise_path)
    notebook = nbformat.from_dict(translate_notebook(english, load_translations(assignment, LANG, english), LANG, provenance=provenance(assignment, LANG)))
    for cell in notebook.cells:
        if "checksum" in cell.metadata.get("nbgrader", {}):
            cell.metadata.nbgrader.checksum = compute_checksum(cell)
    return notebook


def _committed(path: Path) -> nbformat.NotebookNode:
    return nbformat.reads(json.dumps(read_normalized(path)), as_version=4)


def test_committed_chinese_exercises_are_the_translated_english_exercises() -> None:
    wanted = {f"{a.id}/{a.notebook}" for a in ASSIGNMENTS}
    committed = {p.relative_to(CHINESE_DIR).as_posix() for p in CHINESE_DIR.rglob("*") if p.is_file()}
    assert committed == wanted | {".released.json"}, "exercises/zh_CN/ has other files than a release writes; run `make exercises` and commit"
    stale = [a.id for a in ASSIGNMENTS if _committed(CHINESE_DIR / a.id / a.notebook) != _expected_chinese_exercise(a)]
    assert not stale, f"exercises/zh_CN/ drifted from solutions/ or the catalogs in {', '.join(stale)}; run `make exercises` and commit"
    manifest = json.loads((CHINESE_DIR / ".released.json").read_text(encoding="utf-8"))
    assert manifest == {key: hashlib.sha256((CHINESE_DIR / key).read_bytes()).hexdigest() for key in wanted}


@pytest.mark.nbgrader
def test_one_chinese_exercise_released_by_nbgrader_is_the_committed_one(tmp_path: Path) -> None:
    assignment = get_assignment("03")
    generate_translations([assignment.id], tmp_path)
    fresh = tmp_path / LANG / assignment.id / assignment.notebook
    assert (fresh.parent.parent / ".released.json").is_file()
    assert _committed(fresh) == _committed(CHINESE_DIR / assignment.id / assignment.notebook) == _expected_chinese_exercise(assignment)


@pytest.mark.parametrize("assignment", PARAMS)
def test_chinese_exercise_has_the_english_code_metadata_and_points(assignment: Assignment) -> None:
    english, chinese = _cells(assignment.exercise_path), _cells(CHINESE_DIR / assignment.id / assignment.notebook)
    assert [c["cell_type"] for c in english] == [c["cell_type"] for c in chinese]
    for en, zh in zip(english, chinese):
        if en["cell_type"] != "code":
            continue
        grade_id = en["metadata"].get("nbgrader", {}).get("grade_id")
        assert code_without_docstrings(_source(en)) == code_without_docstrings(_source(zh)) is not None, f"code cell {grade_id} differs"
        same_text = _source(en) == _source(zh)
        strip = (lambda m: {k: v for k, v in m.items() if k != "checksum"}) if not same_text else (lambda m: m)
        assert strip(en["metadata"].get("nbgrader", {})) == strip(zh["metadata"].get("nbgrader", {})), f"nbgrader metadata of {grade_id}"
        assert {k: v for k, v in en["metadata"].items() if k != "nbgrader"} == {k: v for k, v in zh["metadata"].items() if k != "nbgrader"}
        if en["metadata"].get("nbgrader", {}).get("grade"):
            assert same_text, f"test cell {grade_id} must be exactly the English one"
        assert en.get("id") == zh.get("id")


@pytest.mark.parametrize("assignment", PARAMS)
def test_chinese_exercise_is_chinese_and_says_where_it_comes_from(assignment: Assignment) -> None:
    path = CHINESE_DIR / assignment.id / assignment.notebook
    data = json.loads(path.read_text(encoding="utf-8"))
    english_texts = {msgid for msgid, msgstr in load_translations(assignment, LANG).items() if msgstr != msgid}  # "## 1. LeNet-5" stays
    left = [t[:50] for t in english_texts for c in data["cells"] if c["cell_type"] == "markdown" and t in _source(c)]
    assert not left, f"English text left in {path.name}: {left}"
    assert sum(len(re.findall(r"[\u4e00-\u9fff]", _source(c))) for c in data["cells"]) > 500
    course = data["metadata"]["cnn_course"]
    assert course["assignment"] == assignment.id and course["language"] == LANG
    assert all((REPO_ROOT / p).is_file() for p in course["translated_from"].values()), course["translated_from"]


@pytest.mark.parametrize("assignment", PARAMS)
def test_the_first_cell_leads_to_the_chinese_chapter(assignment: Assignment) -> None:
    folder = CHINESE_DIR / assignment.id
    first = _source(_cells(folder / assignment.notebook)[0])
    targets = re.findall(r"\]\(([^)]+)\)", first)
    # from the Chinese site's download folder (_build/html/zh_CN/_downloads/<hash>/) two levels up is the Chinese site
    assert f"../../book/{assignment.chapter}.html" in targets
    in_clone = [t for t in targets if t != f"../../book/{assignment.chapter}.html"]
    assert (folder / f"../../../book/{assignment.chapter}.md").resolve() == REPO_ROOT / "book" / f"{assignment.chapter}.md"
    assert sorted(in_clone) == sorted([f"../../../_build/html/{LANG}/book/{assignment.chapter}.html", f"../../../book/{assignment.chapter}.md"])
    assert f"_build/html/{LANG}/book/{assignment.chapter}.html`" in first


def test_translate_notebook_changes_only_markdown_and_docstrings() -> None:
    notebook = {"metadata": {"cnn_course": {"assignment": "01-convolution"}}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Title\n\n$$x^2$$\n\nSee [it](../../book/a.md)."},
        {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "f"}}, "source": 'def f(x):\n    """Twice x.\n\n    Args:\n        x: a number.\n    """\n    return 2 * x  # """not a docstring"""\n'},
    ]}
    translations = {"# Title": "# 标题", "See [it](../../book/a.md).": "见[此处](../../book/a.md)。", "Twice x.\n\nArgs:\n    x: a number.": "x 的两倍。\n\nArgs:\n    x: 一个数。"}
    assert sorted(m.msgid for m in messages(notebook)) == sorted(translations)
    result = translate_notebook(notebook, translations, LANG)
    assert result["cells"][0]["source"] == "# 标题\n\n$$x^2$$\n\n见[此处](../../../book/a.md)。"
    assert result["cells"][1]["source"] == 'def f(x):\n    """x 的两倍。\n\n    Args:\n        x: 一个数。\n    """\n    return 2 * x  # """not a docstring"""\n'
    assert result["cells"][1]["metadata"] == notebook["cells"][1]["metadata"] and result["metadata"]["cnn_course"]["language"] == LANG
    with pytest.raises(CatalogError, match="no zh_CN translation for 1 text"):
        translate_notebook(notebook, {**translations, "# Title": ""}, LANG)
    with pytest.raises(CatalogError, match="changes the code"):
        translate_notebook(notebook, {**translations, "Twice x.\n\nArgs:\n    x: a number.": 'x 的两倍。"""; x = 1; """'}, LANG)


# --- grading -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chinese_gradings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A class of two learners graded with ``--batch``'s discovery and sandboxes: one hands in
    the Chinese solutions (translated into a temporary folder), the other the committed Chinese
    blanks. 06's solution is graded apart, on every check but its accuracy gate."""
    root = tmp_path_factory.mktemp("zh-class")
    write_translated_sources(ASSIGNMENTS, LANG, root / "zh-solution")
    shutil.copytree(CHINESE_DIR, root / "zh-blank", ignore=shutil.ignore_patterns(".*"))
    training = tmp_path_factory.mktemp("zh-06") / "06-training"  # outside the class folder: its gate must not run
    shutil.move(root / "zh-solution" / "06-training", training)
    rows = grade_batch(discover(root), jobs=2)
    gate_free = [grade_many([Submission(training / "training.ipynb")], only=only)[0] for only in ("06.[!t]*", "06.train.t*")]
    return {"solutions": [r for learner, r in rows if learner == "zh-solution"] + gate_free, "blanks": [r for learner, r in rows if learner == "zh-blank"]}


def test_every_chinese_solution_scores_full_marks_on_the_english_check_ids(chinese_gradings: dict[str, Any]) -> None:
    by_assignment: dict[str, dict[str, float]] = {}
    for result in chinese_gradings["solutions"]:
        assert not result.error and not result.cell_errors, (result.path, result.error, result.cell_errors)
        by_assignment.setdefault(result.assignment, {}).update({c.id: c.earned for c in result.checks})
        assert all(c.earned == c.points for c in result.checks), [(c.id, c.message) for c in result.checks if c.earned != c.points]
    for assignment in ASSIGNMENTS:
        public = [c.id for c in checks_for(assignment.id) if not c.hidden]
        expected = [i for i in public if i != GATE]
        assert sorted(by_assignment[assignment.id]) == sorted(expected), assignment.id


def test_every_chinese_blank_scores_zero_on_every_check(chinese_gradings: dict[str, Any]) -> None:
    assert len(chinese_gradings["blanks"]) == len(ASSIGNMENTS)
    for assignment, result in zip(ASSIGNMENTS, chinese_gradings["blanks"]):
        assert not result.error and result.assignment == assignment.id, (result.path, result.error)
        assert [c.id for c in result.checks] == [c.id for c in checks_for(assignment.id) if not c.hidden]
        assert result.score == 0, [(c.id, c.earned) for c in result.checks if c.earned]


def test_an_edited_chinese_exercise_stops_the_release_before_either_language_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "exercises"
    shutil.copytree(EXERCISES_DIR, output)
    notebook = output / LANG / "01-convolution" / "convolution.ipynb"
    notebook.write_text(notebook.read_text(encoding="utf-8").replace("互相关", "互相关（我的笔记）", 1), encoding="utf-8")
    before = {p: p.read_bytes() for p in output.rglob("*") if p.is_file()}
    assert main(["01", "--output", str(output)]) == 1
    assert "zh_CN/01-convolution/convolution.ipynb has changes that no release made" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in output.rglob("*") if p.is_file()} == before
