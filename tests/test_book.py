"""The website: a clean `-W --all` build of both languages into a temporary folder, then its HTML.

The English site is `jupyter-book build`'s, the Chinese one (`zh_CN/` inside it) is built at the
same time by `python -m autograder.book_build`, as `make book` does. The builds run once per test
session (`build_book_once`, shared by the xdist workers through a file lock), and a failure of one
language fails only that language's tests; tests/test_browser.py reuses them.
"""

from __future__ import annotations

import functools
import io
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from bs4 import BeautifulSoup, Tag

from autograder import book_build, site_assets

from conftest import once_per_session

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT_S = 900
CDN_HOSTS = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com/@jupyter-widgets", "unpkg.com/mathjax")

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]


@dataclass(frozen=True)
class BuiltBook:
    """A finished build: its HTML folder, how long it took, whether it serves local assets."""

    html: Path
    seconds: float
    local_assets: bool


ENGLISH, CHINESE = "en", "zh_CN"
_BUILT: dict[str, BuiltBook | str] = {}  # this process's builds by language, or why one failed


def toc_pages() -> list[str]:
    """The page names of _toc.yml in reading order, e.g. ``["book/intro", ...]``."""
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for entry in toc.get("chapters", []) + [c for part in toc.get("parts", []) for c in part["chapters"]]:
        pages.append(entry["file"])
    return [str(Path(p).with_suffix("")) for p in pages]


def is_notebook(page: str) -> bool:
    """Whether a page's source has code cells (and so executed outputs)."""
    return "{code-cell}" in (REPO_ROOT / f"{page}.md").read_text(encoding="utf-8")


def _outcome(lang: str, status: int, seconds: float, log: Path) -> dict[str, object]:
    if status == book_build.TIMED_OUT:
        return {"failure": f"the {lang} build took over {BUILD_TIMEOUT_S} s; a chapter is too slow or hangs (log: {log})"}
    if status != 0:
        text = log.read_text(encoding="utf-8", errors="replace")
        problems = [line for line in text.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line]
        failure = f"the {lang} build failed (exit {status}) after {seconds:.0f} s; full log in {log}:\n"
        return {"failure": failure + "\n".join(problems[-30:] or text.splitlines()[-30:])}
    return {"seconds": seconds, "local_assets": site_assets.local_copies_present()}


def _run_builds(out: Path) -> dict[str, object]:
    """Copy the site assets (npm when needed, as `make book` does), then build both languages of
    the whole book from clean into ``out``, at the same time; the developer's _build/ is left alone."""
    (out / "assets.log").write_text(site_assets.ensure_assets(), encoding="utf-8")
    logs = {lang: out / f"build-{lang}.log" for lang in (ENGLISH, CHINESE)}
    start = time.monotonic()
    statuses = book_build.build(list(logs), out, force_all=True, logs=logs, sink=io.StringIO(), timeout_s=BUILD_TIMEOUT_S)
    seconds = time.monotonic() - start  # both together: the wall time the suite pays
    return {lang: {**_outcome(lang, statuses[lang], seconds, logs[lang]), "html": str(book_build.html_dir(out, lang))} for lang in logs}


def build_book_once(tmp_path_factory: pytest.TempPathFactory, lang: str = ENGLISH) -> BuiltBook:
    """The book in ``lang``, built once per test session. Under xdist every worker asks; the first
    builds into the session's shared temporary folder under a file lock, the others wait and reuse
    it (the ``xdist_group`` mark alone does not keep the book tests on one worker)."""
    if not _BUILT:
        for built_lang, outcome in once_per_session(tmp_path_factory, "book-build", _run_builds).items():
            if "failure" in outcome:
                _BUILT[built_lang] = str(outcome["failure"])
            else:
                _BUILT[built_lang] = BuiltBook(html=Path(outcome["html"]), seconds=float(outcome["seconds"]), local_assets=bool(outcome["local_assets"]))
    if isinstance(_BUILT[lang], str):
        pytest.fail(str(_BUILT[lang]))
    return _BUILT[lang]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> BuiltBook:
    return build_book_once(tmp_path_factory)


@pytest.fixture(scope="session")
def built_chinese_book(tmp_path_factory: pytest.TempPathFactory) -> BuiltBook:
    return build_book_once(tmp_path_factory, CHINESE)


@functools.lru_cache(maxsize=None)
def _parsed(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def page_html(book: BuiltBook, page: str) -> BeautifulSoup:
    """The parsed HTML of a built page, parsed once per session (tests only read it)."""
    return _parsed(book.html / f"{page}.html")


# ---------------------------------------------------------------- the built site (slow)


@pytest.mark.slow
def test_book_builds_from_clean_with_warnings_as_errors(built_book: BuiltBook) -> None:
    assert (built_book.html / "index.html").is_file()
    print(f"clean build of both languages: {built_book.seconds:.0f} s")


# ---------------------------------------------------------------- the Chinese site (slow)


@pytest.mark.slow
def test_chinese_book_builds_from_clean_with_warnings_as_errors(built_chinese_book: BuiltBook, built_book: BuiltBook) -> None:
    assert built_chinese_book.html == built_book.html / CHINESE, "the Chinese site belongs in zh_CN/ inside the English one"
    missing = [p for p in toc_pages() if not (built_chinese_book.html / f"{p}.html").is_file()]
    assert not missing, f"Chinese pages missing: {missing}"


@pytest.mark.slow
def test_chinese_pages_are_chinese_and_english_pages_english(built_chinese_book: BuiltBook, built_book: BuiltBook) -> None:
    for page in toc_pages():
        assert page_html(built_book, page).html.get("lang") == "en", page
        soup = page_html(built_chinese_book, page)
        assert soup.html.get("lang") == "zh-CN", f"{page}: <html lang={soup.html.get('lang')!r}>, expected zh-CN"
        title = soup.select_one("article h1").get_text()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in title), f"{page}: the Chinese page's title {title!r} has no Chinese"


@pytest.mark.slow
def test_every_page_links_to_itself_in_the_other_language(built_chinese_book: BuiltBook, built_book: BuiltBook) -> None:
    for page in toc_pages():
        for book, other, text in ((built_book, built_chinese_book, "中文"), (built_chinese_book, built_book, "English")):
            links = page_html(book, page).select("a.cnn-language-switch")
            assert len(links) == 1 and links[0].get_text(strip=True) == text, f"{page}: no single {text!r} switch in {book.html}"
            target = ((book.html / page).parent / links[0]["href"]).resolve()
            assert target == (other.html / f"{page}.html").resolve(), f"{page}: the switch leads to {target}"


@pytest.mark.slow
def test_chinese_pages_ran_their_cells_and_show_their_figures(built_chinese_book: BuiltBook) -> None:
    for page in filter(is_notebook, toc_pages()):
        soup = page_html(built_chinese_book, page)
        assert soup.select("div.cell_output"), f"zh_CN/{page}: no executed output"
        assert not soup.select("div.output.error, div.output.traceback, .output_error"), f"zh_CN/{page}: a cell raised (a missing CJK font or glyph?)"
        assert "Traceback (most recent call last)" not in soup.get_text(), f"zh_CN/{page}: a cell raised"
        if "matplotlib" in (REPO_ROOT / f"{page}.md").read_text(encoding="utf-8"):
            assert soup.select("div.cell_output img"), f"zh_CN/{page} shows no figure"


@pytest.mark.slow
def test_figure_captions_are_in_the_language_of_their_build(built_chinese_book: BuiltBook, built_book: BuiltBook) -> None:
    from autograder.i18n import CHINESE, translate
    from autograder.site_languages import plain_quotes

    def captions(book: BuiltBook) -> list[str]:
        return [plain_quotes(c.get_text(strip=True)) for c in page_html(book, "book/architectures").select("figure figcaption .caption-text")]

    english, chinese = captions(built_book), captions(built_chinese_book)
    assert english and len(chinese) == len(english)
    assert chinese == [translate(c, "book", CHINESE) for c in english]
    assert all(zh != en for zh, en in zip(chinese, english)), chinese


@pytest.mark.slow
def test_the_kernels_draw_tables_in_the_language_of_their_build(built_chinese_book: BuiltBook, built_book: BuiltBook) -> None:
    def headers(book: BuiltBook) -> list[str]:
        return [th.get_text(strip=True) for th in page_html(book, "book/architectures").select("div.cell_output th")]

    assert "output shape" in headers(built_book) and "输出形状" not in headers(built_book)
    assert "输出形状" in headers(built_chinese_book), "the Chinese build's kernels did not run with CNN_COURSE_LANG=zh_CN"


@pytest.mark.slow
def test_every_toc_page_is_built(built_book: BuiltBook) -> None:
    missing = [p for p in toc_pages() if not (built_book.html / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml without HTML: {missing}"


@pytest.mark.slow
def test_every_notebook_page_shows_executed_outputs(built_book: BuiltBook) -> None:
    for page in filter(is_notebook, toc_pages()):
        outputs = page_html(built_book, page).select("div.cell_output")
        assert outputs, f"{page}: no executed output in the HTML; was the chapter executed?"


@pytest.mark.slow
def test_pages_that_plot_show_their_figures(built_book: BuiltBook) -> None:
    for page in filter(is_notebook, toc_pages()):
        if "matplotlib" not in (REPO_ROOT / f"{page}.md").read_text(encoding="utf-8"):
            continue
        images = page_html(built_book, page).select("div.cell_output img")
        assert images, f"{page} imports matplotlib but shows no figure"


@pytest.mark.slow
def test_no_cell_raised_an_error(built_book: BuiltBook) -> None:
    for page in toc_pages():
        soup = page_html(built_book, page)
        errors = soup.select("div.output.error, div.output.traceback, .output_error")
        text = soup.get_text()
        assert not errors and "Traceback (most recent call last)" not in text, f"{page}: a cell raised; see the page"
    reports = list((built_book.html / "reports").rglob("*.log")) if (built_book.html / "reports").exists() else []
    assert not reports, f"myst-nb saved tracebacks: {[str(r.relative_to(built_book.html)) for r in reports]}"


@pytest.mark.slow
def test_figures_have_alt_text_and_captions(built_book: BuiltBook) -> None:
    for page in toc_pages():
        for figure in page_html(built_book, page).select("figure"):
            label = figure.get("id", "a figure")
            assert figure.select("figcaption"), f"{page}: {label} has no caption"
            for img in figure.select("img"):
                assert (img.get("alt") or "").strip(), f"{page}: {label} has an image without alt text"


@pytest.mark.slow
@pytest.mark.parametrize("page", ["book/convolution", "book/padding_stride"])
def test_chapters_have_math(built_book: BuiltBook, page: str) -> None:
    soup = page_html(built_book, page)
    assert len(soup.select(".math")) >= 5, f"{page}: expected display and inline math"
    assert any("mathjax" in (s.get("src") or "").lower() for s in soup.select("script")), f"{page}: MathJax is not loaded"


@pytest.mark.slow
@pytest.mark.parametrize(("page", "explorer"), [("book/padding_stride", "conv"), ("book/pooling", "pool"), ("book/architectures", "receptive-field")])
def test_chapters_place_their_live_explorer(built_book: BuiltBook, page: str, explorer: str) -> None:
    soup = page_html(built_book, page)
    assert soup.select(f'div.cnn-explorer[data-explorer="{explorer}"]'), f"{page} has no {explorer} explorer"
    assert any((s.get("src") or "").split("?")[0].endswith("_static/explorers.js") for s in soup.select("script")), f"{page} does not load explorers.js"
    assert (built_book.html / "_static" / "explorers.js").is_file()


@pytest.mark.slow
def test_mathjax_and_explorers_load_from_local_copies(built_book: BuiltBook) -> None:
    if not built_book.local_assets:
        pytest.skip("no local copies of MathJax and the widget manager (npm unavailable); the site uses the CDNs")
    for page in toc_pages():
        html = (built_book.html / f"{page}.html").read_text(encoding="utf-8")
        assert not [h for h in CDN_HOSTS if h in html], f"{page} still refers to a CDN"
        for script in BeautifulSoup(html, "html.parser").select("script[src]"):
            assert "://" not in script["src"], f"{page} loads {script['src']} from the internet"
    padding = page_html(built_book, "book/padding_stride")
    sources = [s["src"].split("?")[0] for s in padding.select("script[src]")]
    for wanted in ("vendor/mathjax/tex-mml-chtml.js", "explorers.js"):
        assert any(src.endswith(wanted) for src in sources), f"{wanted} is not loaded by the padding page"
        assert (built_book.html / "_static" / wanted).is_file(), f"_static/{wanted} was not copied into the site"


# ---------------------------------------------------------------- lessons before plumbing (slow)

# The plumbing rule, checked on every built page of _toc.yml: a code cell whose source is shown
# (not collapsed) has at most VISIBLE_CELL_MAX_LINES lines; longer set-up, helper and drawing
# code goes into autograder/book/ or a collapsed cell. In a chapter, the first thing a reader
# meets after the prose is a figure: no visible code cell comes before the first picture.
VISIBLE_CELL_MAX_LINES = 25
# Pages of the table of contents that are not lesson chapters (no figures or questions required).
REFERENCE_PAGES = ("book/exercises", "book/misconceptions")


def chapters() -> list[str]:
    """The lesson chapters: notebook pages of _toc.yml that are not reference pages."""
    return [p for p in toc_pages() if is_notebook(p) and p not in REFERENCE_PAGES]


def visible_code_cells(soup: BeautifulSoup) -> list[Tag]:
    """The code inputs of a page that are shown, not collapsed into a <details>."""
    return [cell for cell in soup.select("div.cell_input") if cell.find_parent("details") is None]


def lines_of(cell: Tag) -> int:
    return len(cell.get_text().strip("\n").splitlines())


@pytest.mark.slow
def test_plumbing_rule_no_long_visible_code_cell_on_any_page(built_book: BuiltBook) -> None:
    problems = []
    for page in toc_pages():
        for cell in visible_code_cells(page_html(built_book, page)):
            if lines_of(cell) > VISIBLE_CELL_MAX_LINES:
                first = cell.get_text().strip().splitlines()[0]
                problems.append(f"{page}: a visible code cell of {lines_of(cell)} lines, starting {first!r}")
    assert not problems, "move helpers into autograder/book/ or collapse the cell (tags: [hide-input]):\n" + "\n".join(problems)


@pytest.mark.slow
def test_plumbing_rule_each_chapter_shows_a_figure_before_any_code(built_book: BuiltBook) -> None:
    for page in chapters():
        article = page_html(built_book, page).select_one("article") or page_html(built_book, page)
        visible = set(map(id, visible_code_cells(article)))
        first = next((e for e in article.select("figure, div.cell_output img, div.cell_input") if e.name != "div" or id(e) in visible), None)
        assert first is not None and first.name != "div", f"{page}: the first thing after the prose is visible code, not a figure"


@pytest.mark.slow
def test_chapters_have_three_figures_and_a_schematic(built_book: BuiltBook) -> None:
    for page in chapters():
        soup = page_html(built_book, page)
        images = soup.select("div.cell_output img")
        schematics = [f for f in soup.select("figure") if (f.get("id") or "").startswith("schematic-")]
        assert len(images) >= 3, f"{page}: {len(images)} figures, at least 3 wanted"
        assert schematics, f"{page}: no schematic figure (a figure whose name starts with schematic-)"


@pytest.mark.slow
def test_chapters_end_with_questions_and_collapsed_answers(built_book: BuiltBook) -> None:
    for page in chapters():
        questions = page_html(built_book, page).select_one("section#questions")
        assert questions is not None, f"{page} has no Questions section"
        answers = questions.select("div.admonition.dropdown")
        assert len(answers) >= 3, f"{page}: {len(answers)} collapsed answers, at least 3 wanted"


@pytest.mark.slow
def test_misconceptions_page_demonstrates_each_correction(built_book: BuiltBook) -> None:
    soup = page_html(built_book, "book/misconceptions")
    assert "常见误区" in soup.select_one("h1").get_text()
    titles = [s.select_one("h2, h3").get_text() for s in soup.select("section section")]
    for phrase in ("500 units", "7 layers", "cannot overfit", "Hubel and Wiesel", "AlexNet", "99 %", "conv_transpose2d", "VGG", "ResNet-152"):
        assert any(phrase in title for title in titles), f"no misconception about {phrase!r} (sections: {titles})"
    assert len(soup.select("div.cell_output")) >= 10, "the demonstrations did not run"


# ---------------------------------------------------------------- site assets (fast)


def fake_sphinx_app(confdir: Path, mathjax_path: str, widgets_js: dict[str, dict[str, str]]) -> SimpleNamespace:
    config = SimpleNamespace(html_static_path=["static"], mathjax_path=mathjax_path, nb_ipywidgets_js=dict(widgets_js))
    return SimpleNamespace(confdir=str(confdir), config=config)


def test_site_assets_keep_local_paths_when_the_files_exist(tmp_path: Path) -> None:
    for name in ("mj/tex.js", "req.js", "embed.js"):
        (tmp_path / "static" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "static" / name).write_text("//")
    app = fake_sphinx_app(tmp_path, "mj/tex.js", {"req.js": {}, "embed.js": {}})
    site_assets._use_cdn_for_missing(app, app.config)
    assert app.config.mathjax_path == "mj/tex.js"
    assert list(app.config.nb_ipywidgets_js) == ["req.js", "embed.js"]


def test_site_assets_fall_back_to_the_cdns_when_the_files_are_missing(tmp_path: Path) -> None:
    from myst_nb.core.config import ipywidgets_js_factory
    from sphinx.ext.mathjax import MATHJAX_URL

    app = fake_sphinx_app(tmp_path, "mj/tex.js", {"req.js": {}, "embed.js": {}})
    site_assets._use_cdn_for_missing(app, app.config)
    assert app.config.mathjax_path == MATHJAX_URL
    assert app.config.nb_ipywidgets_js == ipywidgets_js_factory()


def test_site_assets_without_npm_report_the_cdn_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "package.json").write_text((REPO_ROOT / "package.json").read_text())
    monkeypatch.setattr(site_assets.shutil, "which", lambda name: None)
    message = site_assets.ensure_assets(root=tmp_path, vendor_dir=tmp_path / "vendor")
    assert "npm not found" in message and "CDN" in message
    assert not (tmp_path / "vendor").exists()


def test_site_assets_are_pinned_for_every_copied_package() -> None:
    pinned = site_assets.pinned_versions()
    assert sorted(pinned) == sorted(a.package for a in site_assets.ASSETS)


# ---------------------------------------------------------------- two languages (fast)


def test_language_switch_leads_to_the_same_page_in_the_other_site() -> None:
    from autograder.site_languages import bcp47, switch_url

    for page in toc_pages() + ["index", "a/b/c"]:
        english = REPO_ROOT / "site" / f"{page}.html"
        to_chinese, lang = switch_url(page, "en")
        assert lang == CHINESE and (english.parent / to_chinese).resolve() == (REPO_ROOT / "site" / CHINESE / f"{page}.html").resolve()
        back, lang = switch_url(page, CHINESE)
        assert lang == ENGLISH and ((REPO_ROOT / "site" / CHINESE / page).parent / back).resolve() == english.resolve()
    assert (bcp47(None), bcp47("en"), bcp47(CHINESE)) == ("en", "en", "zh-CN")


def test_each_language_builds_into_its_own_folders_and_cache(tmp_path: Path) -> None:
    assert book_build.html_dir(tmp_path, ENGLISH) == tmp_path / "_build" / "html"
    assert book_build.html_dir(tmp_path, CHINESE) == tmp_path / "_build" / "html" / CHINESE
    chinese = book_build.sphinx_overrides(CHINESE, tmp_path)
    assert chinese["language"] == CHINESE and chinese["nb_execution_cache_path"] == str(tmp_path / "_build" / f".jupyter_cache_{CHINESE}")
    assert book_build.sphinx_overrides(ENGLISH, tmp_path, "gettext")["nb_execution_mode"] == "off"
    assert "jupyter-book" in book_build.command(ENGLISH, tmp_path)[0] and "-W" in book_build.command(ENGLISH, tmp_path)
    assert book_build.environment(CHINESE)["CNN_COURSE_LANG"] == CHINESE and book_build.environment(ENGLISH)["CNN_COURSE_LANG"] == ENGLISH


def test_changed_figure_words_empty_the_translated_execution_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = tmp_path / "book.po"
    catalog.write_text('msgid "epoch"\nmsgstr "轮"\n', encoding="utf-8")
    monkeypatch.setattr(book_build, "catalog_files", lambda domain, lang: [catalog])
    cache = Path(str(book_build.sphinx_overrides(CHINESE, tmp_path)["nb_execution_cache_path"]))
    assert not book_build.forget_stale_outputs(CHINESE, tmp_path)  # no cache yet
    cache.mkdir(parents=True)
    (cache / "executed").write_text("x")
    assert not book_build.forget_stale_outputs(CHINESE, tmp_path) and cache.exists()  # words unchanged
    catalog.write_text('msgid "epoch"\nmsgstr "迭代周期"\n', encoding="utf-8")
    assert book_build.forget_stale_outputs(CHINESE, tmp_path) and not cache.exists()


def test_chinese_figures_use_the_cjk_font_and_a_missing_glyph_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    from autograder.book import fonts

    with matplotlib.rc_context(), __import__("warnings").catch_warnings():
        fonts.use_language_font(ENGLISH)
        assert fonts.CJK_FONT not in matplotlib.rcParams["font.family"]
        fonts.use_language_font(CHINESE)
        assert matplotlib.rcParams["font.family"][-1] == fonts.CJK_FONT
        fig, ax = plt.subplots()
        ax.set_title("卷积核与步幅")
        fig.canvas.draw()  # every glyph found: no warning, no error
        ax.set_title("\u0d9e")  # a Sinhala letter: in neither font
        with pytest.raises(UserWarning, match="Glyph"):
            fig.canvas.draw()
        plt.close(fig)
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [f for f in font_manager.fontManager.ttflist if f.name != fonts.CJK_FONT])
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *args, **kwargs: [])
    with pytest.raises(fonts.MissingFontError, match="apt-get install fonts-wqy-microhei"):
        fonts.use_language_font(CHINESE)
