"""Links both ways between the website and the exercise notebooks: every link in the built site
resolves (internal) or points at the repository configured in _config.yml or a known site
(external); each chapter offers its notebook as a download from the site itself, and that
downloaded notebook's first cell leads back to the chapter, offline, from file://."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from bs4 import BeautifulSoup

from autograder.assignments import ASSIGNMENTS

from test_book import REPO_ROOT, BuiltBook, build_book_once

pytestmark = [pytest.mark.book, pytest.mark.xdist_group("book")]

# Sites a page may link to besides the course's repository: the theme's and the tools' own.
KNOWN_SITES = ("https://mybinder.org", "https://jupyterbook.org", "https://www.sphinx-doc.org", "https://sphinx-doc.org",
               "https://pydata-sphinx-theme.readthedocs.io", "https://sphinx-book-theme.readthedocs.io", "https://executablebooks.org",
               "https://github.com/executablebooks", "https://pytorch.org", "https://docs.pytorch.org", "https://numpy.org",
               "https://docs.scipy.org", "https://nbgrader.readthedocs.io", "https://arxiv.org", "https://doi.org", "https://creativecommons.org", "http://yann.lecun.com")


def repository() -> dict[str, str]:
    return yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> BuiltBook:
    return build_book_once(tmp_path_factory)


def links(page: Path) -> list[str]:
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    return [a["href"] for a in soup.find_all("a", href=True)]


def test_every_link_in_the_built_site_resolves_or_uses_the_configured_repository(book: BuiltBook) -> None:
    configured = repository()["url"]
    broken, foreign = [], []
    for page in sorted(book.html.rglob("*.html")):
        for href in links(page):
            parts = urlsplit(href)
            if parts.scheme in ("http", "https"):
                if not href.startswith((configured, *KNOWN_SITES)):
                    foreign.append(f"{page.relative_to(book.html)}: {href}")
            elif not parts.scheme and parts.path:
                if not (page.parent / unquote(parts.path)).resolve().exists():
                    broken.append(f"{page.relative_to(book.html)}: {href}")
            elif parts.scheme not in ("", "mailto", "javascript"):
                foreign.append(f"{page.relative_to(book.html)}: {href}")
    assert not broken, f"links that lead nowhere: {broken[:10]}"
    assert not foreign, f"links to neither the configured repository nor a known site: {foreign[:10]}"


def test_the_repository_url_is_written_only_in_the_config() -> None:
    configured = repository()["url"]
    pages = {p.name: p.read_text(encoding="utf-8") for p in (REPO_ROOT / "book").glob("*.md")}
    assert [name for name, text in pages.items() if configured in text or "github.com/" in text] == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=[a.id for a in ASSIGNMENTS])
def test_chapter_to_notebook_to_chapter_offline(book: BuiltBook, assignment) -> None:
    chapter = book.html / "book" / f"{assignment.chapter}.html"
    downloads = [href for href in links(chapter) if href.endswith(f"/{assignment.notebook}") and "_downloads/" in href]
    assert downloads, f"{chapter.name} offers no download of {assignment.notebook}"
    notebook = (chapter.parent / unquote(downloads[0])).resolve()
    assert notebook.read_bytes() == assignment.exercise_path.read_bytes(), "the site serves the released exercise"
    assert any(href.startswith(f"{repository()['url']}/blob/{repository()['branch']}/exercises/{assignment.id}/") for href in links(chapter))
    first_cell = "".join(json.loads(notebook.read_text(encoding="utf-8"))["cells"][0]["source"])
    back = re.findall(r"\]\(([^)]+\.html)\)", first_cell)
    assert any((notebook.parent / target).resolve() == chapter.resolve() for target in back), f"the downloaded notebook does not link back to {chapter.name}: {back}"
    repo_links = re.findall(r"\]\((\.\./\.\./book/[^)]+\.md)\)", first_cell)
    assert repo_links and all((assignment.exercise_path.parent / target).resolve().exists() for target in repo_links), "in a clone, the notebook links to the chapter's source"
