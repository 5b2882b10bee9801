"""The grader in Chinese: with ``--lang zh_CN`` (or ``LANG=zh_CN.UTF-8``) no English sentence is
left in the terminal report, the feedback files or the Gradescope/JUnit messages of a failing
notebook, check ids stay exactly as in English, and every marked message has a translation.

Each notebook is graded once, in process (the sandbox's child gets the language through its
environment); the command-line cases grade one check of 01's blank exercise.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from autograder import engine, i18n, report
from autograder.assignments import ASSIGNMENTS, get_assignment
from autograder.classroom.feedback import Feedback, html_page, markdown
from autograder.registry import _REGISTRY, checks_for

from conftest import REPO_ROOT, write_variant
from test_hints import CATALOGUE

# Words that stay as they are in a Chinese sentence: names of tools, libraries and formats.
PROPER_NOUNS = frozenset({
    "NumPy", "PyTorch", "Python", "IPython", "Jupyter", "nbgrader", "pytest", "Gradescope", "PrairieLearn", "JUnit", "JSON",
    "CSV", "XML", "HTML", "CI", "ReLU", "Sobel", "MNIST", "SIGKILL", "SIGSEGV", "dtype", "bubblewrap", "torch", "scipy",
})
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
EDGE_PUNCTUATION = "()[]{}<>,.;:!?\"'"
SEEDED_MISTAKES = {  # one notebook per assignment with several known mistakes whose checks give hints
    "01-convolution": ("corr2d flips the kernel", "conv2d_flipped flips the columns only", "sobel |gx| + |gy|"),
    "02-padding-stride": ("output size without the + 1", "pad2d pads one side only", "conv2d_forward ignores the padding"),
    "03-pooling": ("maxpool pads with zeros", "global_avgpool takes the maximum", "lppool sums absolute values"),
}


def english_runs(text: str, min_words: int = 3) -> list[str]:
    """Every run of ``min_words`` or more English words in ``text``, where a word is a token of
    two or more ASCII letters only (not an identifier, a number, a shape or a path), outside
    `code spans`, check ids and the proper nouns above."""
    text = re.sub(r"^```\w*$", " ", text, flags=re.M)  # Markdown's code fences
    text = re.sub(r"`[^`]*`", " ", text, flags=re.S)
    for check_id in sorted(_REGISTRY, key=len, reverse=True):
        text = text.replace(check_id, " ")
    text = re.sub(r"[^\x00-\x7f]+", " | ", text)  # Chinese text between two words ends a run
    runs, current = [], []
    for token in text.split():
        core = token.strip(EDGE_PUNCTUATION)
        if ENGLISH_WORD.fullmatch(core) and core not in PROPER_NOUNS:
            current.append(core)
            continue
        runs, current = runs + [" ".join(current)] * (len(current) >= min_words), []
    return runs + [" ".join(current)] * (len(current) >= min_words)


def test_the_detector_finds_english_sentences_and_spares_code_ids_and_names():
    assert english_runs("corr2d 尚未实现：is not implemented yet") == ["is not implemented yet"]
    assert english_runs("corr2d(float64 数组 (5, 7)) 的结果在 [0, 1] 处不同：应为 0.5") == []
    assert english_runs("请用你的代码替换 `raise NotImplementedError()`；NumPy PyTorch nbgrader 01.corr2d.random") == []
    assert english_runs("the result has shape (2, 3)") == ["the result has shape"]


@pytest.fixture
def chinese(in_chinese, monkeypatch: pytest.MonkeyPatch):
    """The grader speaks Chinese in this test (and its sandboxed children, through the
    environment), English after it; rich wraps at 80 columns without a terminal, so widen it."""
    monkeypatch.setenv("COLUMNS", "400")


def json_texts(value: object) -> list[str]:
    """The free text of Gradescope's results.json: every string but its keywords and ids."""
    if isinstance(value, dict):
        return [text for key, item in value.items() if key not in ("status", "visibility", "stdout_visibility", "number") for text in json_texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in json_texts(item)]
    return [value] if isinstance(value, str) else []


def all_texts(result: engine.NotebookResult) -> dict[str, str]:
    """What a learner or instructor reads of one graded notebook: the terminal report, the
    feedback (Markdown and HTML), and the text in Gradescope's results.json and the JUnit XML
    (their keys and element names stay English)."""
    terminal = io.StringIO()
    report.print_report([result], file=terminal)
    feedback = Feedback("learner", result, show_hidden=True)
    junit = report.junit([result]).getroot()
    return {
        "terminal": terminal.getvalue(),
        "feedback.md": markdown(feedback),
        "feedback.html": re.sub(r"<[^>]+>", " ", html_page(feedback)),
        "results.json": "\n".join(json_texts(report.gradescope([result], 0.0))),
        "junit": "\n".join([case.get("name", "") for case in junit.iter("testcase")] + [node.get("message", "") + " " + (node.text or "") for node in junit.iter("failure")]),
    }


def assert_all_chinese(result: engine.NotebookResult) -> None:
    assert not result.error, result.error
    assert result.checks and all(not c.passed for c in result.checks if c.message)
    leftovers = {name: english_runs(text) for name, text in all_texts(result).items()}
    assert not any(leftovers.values()), leftovers


@pytest.mark.parametrize("assignment_id", [a.id for a in ASSIGNMENTS])
def test_a_blank_exercise_is_graded_in_chinese(chinese, assignment_id):
    assignment = get_assignment(assignment_id)
    result = engine.grade_notebook(assignment.exercise_path)
    assert result.checks and not any(c.passed for c in result.checks)
    assert_all_chinese(result)
    json_ids = [t["number"] for t in report.gradescope([result], 0.0)["tests"]]
    junit_ids = [case.get("name").split(" ", 1)[0] for case in report.junit([result]).iter("testcase")]
    assert json_ids == junit_ids == [c.id for c in checks_for(assignment)]


@pytest.mark.parametrize("assignment_id", sorted(SEEDED_MISTAKES))
def test_seeded_mistakes_get_their_hints_in_chinese(chinese, assignment_id, tmp_path):
    mistakes = [CATALOGUE[name] for name in SEEDED_MISTAKES[assignment_id]]
    replacements = {old: new for mistake in mistakes for old, new in mistake.replacements.items()}
    path = write_variant(assignment_id, replacements, tmp_path)
    result = engine.grade_notebook(path)
    failed = {c.id: c.message for c in result.checks if not c.passed}
    assert {m.check for m in mistakes} <= set(failed), failed
    assert all("提示：" in failed[m.check] for m in mistakes), failed
    assert_all_chinese(result)


def grade_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", i18n.LANG_ENV_VAR, "LC_ALL", "LC_MESSAGES", "LANG")}
    environment.update(COLUMNS="400", **(env or {}))
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, env=environment)


def test_lang_chooses_the_language_and_keeps_the_check_ids(tmp_path):
    blank = get_assignment("01").exercise_path
    ids = {}
    for lang in ("en", "zh_CN"):
        run = grade_cli(str(blank), "--only", "01.corr2d.*", "--lang", lang, "--json", str(tmp_path / f"{lang}.json"), "--junit", str(tmp_path / f"{lang}.xml"))
        assert run.returncode == 0, run.stderr
        tests = json.loads((tmp_path / f"{lang}.json").read_text(encoding="utf-8"))["tests"]
        cases = ET.parse(tmp_path / f"{lang}.xml").getroot().iter("testcase")
        ids[lang] = ([t["number"] for t in tests], [c.get("name").split(" ", 1)[0] for c in cases], run.stdout)
    assert ids["en"][:2] == ids["zh_CN"][:2] and ids["en"][0] == ["01.corr2d.random", "01.corr2d.edge_cases", "01.corr2d.float32"]
    assert "not implemented yet" in ids["en"][2] and "尚未实现" not in ids["en"][2]
    assert "尚未实现" in ids["zh_CN"][2] and not english_runs(ids["zh_CN"][2])


def test_lang_alone_in_the_environment_gives_chinese():
    run = grade_cli(str(get_assignment("01").exercise_path), "--only", "01.corr2d.random", env={"LANG": "zh_CN.UTF-8"})
    assert run.returncode == 0, run.stderr
    assert "corr2d 尚未实现" in run.stdout and "总分" in run.stdout and not english_runs(run.stdout)


def test_an_unknown_language_is_a_one_line_error():
    run = grade_cli("--lang", "fr", "--help")
    assert run.returncode == 2 and not run.stdout
    assert run.stderr.count("\n") == 1 and "--lang 'fr'" in run.stderr and "en, zh_CN" in run.stderr


def test_the_help_is_translated_too():
    run = grade_cli("--lang", "zh_CN", "--help")
    assert run.returncode == 0 and "只运行 id 匹配的检查项" in run.stdout


def marked_messages() -> dict[str, set[str]]:
    """msgid -> the modules of ``autograder/`` that mark it with ``_()`` or ``N_()``."""
    from babel.messages.extract import extract_from_file

    found: dict[str, set[str]] = {}
    package = REPO_ROOT / "autograder"
    for path in sorted(package.rglob("*.py")):
        for _line, msgid, _comments, _context in extract_from_file("python", str(path), keywords={"_": None, "N_": None}):
            found.setdefault(msgid, set()).add(path.relative_to(package).as_posix())
    return found


def test_every_marked_message_has_a_chinese_translation_without_fuzzy_entries():
    import polib

    entries = [(path, entry) for path in i18n.catalog_files("autograder", i18n.CHINESE) for entry in polib.pofile(str(path))]
    assert not [f"{p.name}: {e.msgid}" for p, e in entries if e.fuzzy or (not e.obsolete and not e.msgstr)]
    untranslated = {msgid: sorted(modules) for msgid, modules in marked_messages().items() if msgid not in i18n.catalog("autograder", i18n.CHINESE)}
    assert not untranslated, f"translate these in autograder/locale/zh_CN/LC_MESSAGES/autograder/<module>.po: {untranslated}"


def test_translations_keep_the_placeholders_of_their_message():
    fields = lambda text: sorted(re.findall(r"\{(\w*)[^{}]*\}", text))  # noqa: E731 - a one-line helper
    catalog = i18n.catalog("autograder", i18n.CHINESE)
    assert {m: t for m, t in catalog.items() if fields(m) != fields(t)} == {}
