"""The website: a clean `jupyter-book build -W --all` into a temporary folder, then its HTML.

The build runs once per test session (`build_book_once`, shared by the xdist workers through a
file lock); tests/test_browser.py reuses it.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from bs4 import BeautifulSoup, Tag

from autograder import site_assets

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


_BUILT: BuiltBook | str | None = None  # this process's build, or why it failed


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


def _run_build(out: Path) -> dict[str, object]:
    """Copy the site assets (npm when needed, as `make book` does), then build the whole book
    from clean into ``out``; the developer's _build/ is left alone."""
    assets = site_assets.ensure_assets()
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", "-W", "--keep-going", "--all", "--path-output", str(out), str(REPO_ROOT)]
    start = time.monotonic()
    try:
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    except subprocess.TimeoutExpired:
        return {"failure": f"jupyter-book build took over {BUILD_TIMEOUT_S} s; a chapter is too slow or hangs"}
    seconds = time.monotonic() - start
    log = result.stdout + result.stderr
    (out / "build.log").write_text(f"{assets}\n{log}", encoding="utf-8")
    if result.returncode != 0:
        problems = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line or "Error" in line]
        failure = f"jupyter-book build failed (exit {result.returncode}) after {seconds:.0f} s; full log in {out / 'build.log'}:\n"
        return {"failure": failure + "\n".join(problems[-30:] or log.splitlines()[-30:])}
    return {"seconds": seconds, "local_assets": site_assets.local_copies_present()}


def build_book_once(tmp_path_factory: pytest.TempPathFactory) -> BuiltBook:
    """The book, built once per test session. Under xdist every worker asks; the first builds
    into the session's shared temporary folder under a file lock, the others wait and reuse it
    (the ``xdist_group`` mark alone does not keep the book tests on one worker)."""
    global _BUILT
    if _BUILT is None:
        outcome = once_per_session(tmp_path_factory, "book-build", lambda shared: {**_run_build(shared), "html": str(shared / "_build" / "html")})
        if "failure" in outcome:
            _BUILT = str(outcome["failure"])
        else:
            _BUILT = BuiltBook(html=Path(outcome["html"]), seconds=float(outcome["seconds"]), local_assets=bool(outcome["local_assets"]))
    if isinstance(_BUILT, str):
        pytest.fail(_BUILT)
    return _BUILT


@pytest.fixture(scope="session")
def built_book(tmp_path_factory: pytest.TempPathFactory) -> BuiltBook:
    return build_book_once(tmp_path_factory)


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
    print(f"clean build: {built_book.seconds:.0f} s")


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
