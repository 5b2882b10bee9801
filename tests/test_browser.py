"""The built website in a real browser: Debian's headless Chromium driven by Playwright.

Pages come from the build of tests/test_book.py, served on a loopback HTTP server and opened
from ``file://``. Each page must load with no JavaScript error or failed request, MathJax must
have typeset its math, and the live explorers (book/_static/explorers.js) must react to their
controls with the numbers the course's Python computes for the same settings. Screenshots go to
_build/screenshots/ for a person to look at.

Chromium is installed by .ci/run; without it the tests skip on a developer's machine and fail
under ``CI=true``, where a skipped browser test would hide a broken site.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.notebook import solution_functions
from conftest import serve_folder
from test_book import CHINESE, REPO_ROOT, BuiltBook, build_book_once, toc_pages

pytestmark = [pytest.mark.book, pytest.mark.slow, pytest.mark.xdist_group("book")]

SCREENSHOT_DIR = REPO_ROOT / "_build" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update"]
TIMEOUT_MS = 60_000


def chromium_executable() -> str:
    """Debian's chromium (``/usr/bin/chromium``); skip without it, or fail under CI=true."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    message = "chromium is not installed: `apt-get install chromium` (bash .ci/run installs it before the suite)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; under CI=true the browser tests must run, not skip")
    pytest.skip(message)


@pytest.fixture(scope="module")
def built_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    book: BuiltBook = build_book_once(tmp_path_factory)
    return book.html


@pytest.fixture(scope="module")
def site_url(built_html: Path) -> Iterator[str]:
    with serve_folder(built_html) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class OpenPage:
    """A page and the errors it logged: uncaught exceptions, console errors, failed requests."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"exception: {error}"))
        page.on("console", self._console)
        page.on("requestfailed", lambda request: self.errors.append(f"failed request: {request.url} ({request.failure})") if not request.url.endswith("/favicon.ico") else None)

    def _console(self, message: Any) -> None:
        if message.type not in ("error", "assert"):
            return
        if message.location.get("url", "").endswith("/favicon.ico"):
            return  # the browser's own request on the root redirect page, which has no icon link
        self.errors.append(f"console.{message.type}: {message.text} ({message.location.get('url', '')})")

    def screenshot(self, name: str) -> None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOT_DIR / name), full_page=True)


@contextmanager
def open_page(browser: Any, url: str) -> Iterator[OpenPage]:
    context = browser.new_context(viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    opened = OpenPage(page)
    try:
        page.goto(url, wait_until="load")
        yield opened
    finally:
        context.close()


def wait_for_math(page: Any) -> None:
    page.wait_for_function("document.querySelectorAll('mjx-container').length > 0")


@pytest.mark.parametrize(
    ("page", "screenshot"),
    [("book/intro.html", "intro.png"), ("book/convolution.html", "convolution.png"), ("book/padding_stride.html", "padding_stride.png")],
)
def test_page_loads_without_javascript_errors_and_typesets_math(browser: Any, site_url: str, page: str, screenshot: str) -> None:
    with open_page(browser, f"{site_url}/{page}") as opened:
        wait_for_math(opened.page)
        opened.page.wait_for_timeout(500)  # late console messages (fonts)
        opened.screenshot(screenshot)
        assert not opened.errors, f"{page}: errors in the browser:\n" + "\n".join(opened.errors)


# ---------------------------------------------------------------- the Chinese site

CHINESE_SCREENSHOTS = {"book/convolution": "zh_CN-convolution.png", "book/padding_stride": "zh_CN-padding_stride.png"}


@pytest.fixture(scope="module")
def chinese_site_url(tmp_path_factory: pytest.TempPathFactory, site_url: str) -> str:
    """The Chinese site: zh_CN/ inside the English one, on the same server."""
    build_book_once(tmp_path_factory, CHINESE)
    return f"{site_url}/{CHINESE}"


def assert_not_blank(path: Path) -> None:
    """A screenshot with something drawn on it: many colours, not one flat page."""
    from PIL import Image

    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 100, f"{path} looks blank ({len(colours)} colours)"


def test_every_chinese_page_loads_and_typesets_and_two_switch_to_english_and_back(browser: Any, site_url: str, chinese_site_url: str) -> None:
    problems = []
    for page in toc_pages():
        url = f"{chinese_site_url}/{page}.html"
        with open_page(browser, url) as opened:
            tab = opened.page
            assert tab.evaluate("document.documentElement.lang") == "zh-CN", page
            if tab.locator(".math").count():
                wait_for_math(tab)
            tab.wait_for_timeout(300)  # late console messages (fonts)
            if page in CHINESE_SCREENSHOTS:
                opened.screenshot(CHINESE_SCREENSHOTS[page])
                assert_not_blank(SCREENSHOT_DIR / CHINESE_SCREENSHOTS[page])
            if page == "book/padding_stride":  # the explorers speak the page's language
                controls = tab.locator('div.cnn-explorer[data-explorer="conv"] .cnn-controls').first.inner_text()
                assert "步幅" in controls, controls
            if page in CHINESE_SCREENSHOTS:  # there and back in the browser; every page's link target: test_book.py
                tab.locator("a.cnn-language-switch").click()
                tab.wait_for_url(f"{site_url}/{page}.html")
                assert tab.evaluate("document.documentElement.lang") == "en", page
                tab.locator("a.cnn-language-switch").click()
                tab.wait_for_url(url)
            problems += [f"zh_CN/{page}: {error}" for error in opened.errors]
    assert not problems, "errors in the browser:\n" + "\n".join(problems)


def test_site_root_redirects_to_the_introduction(browser: Any, site_url: str) -> None:
    with open_page(browser, f"{site_url}/index.html") as opened:
        opened.page.wait_for_url("**/book/intro.html")
        wait_for_math(opened.page)
        assert not opened.errors, "errors in the browser on the way from index.html:\n" + "\n".join(opened.errors)


# ---------------------------------------------------------------- the explorers


@pytest.fixture(scope="module")
def course() -> dict[str, Callable[..., Any]]:
    """The course's functions the explorers must agree with."""
    functions = dict(solution_functions("02-padding-stride"))
    functions.update(solution_functions("03-pooling"))
    with contextlib.redirect_stdout(io.StringIO()):  # 05 reports which layers it imported
        functions["receptive_field"] = solution_functions("05-architectures")["receptive_field"]
    return functions


@pytest.fixture(scope="module", params=["http", "file"])
def base_url(request: pytest.FixtureRequest, built_html: Path) -> str:
    """The site over a loopback server and straight from the disk."""
    if request.param == "file":
        return built_html.as_uri()
    return request.getfixturevalue("site_url")


def readout(page: Any, explorer: str) -> dict[str, Any]:
    """The explorer's readout: its text and its data-* attributes, JSON-decoded where possible."""
    element = page.locator(f'div.cnn-explorer[data-explorer="{explorer}"] .cnn-readout')
    values: dict[str, Any] = {"text": element.inner_text()}
    for name, value in element.evaluate("e => Object.fromEntries(Array.from(e.attributes).map(a => [a.name, a.value]))").items():
        if name.startswith("data-"):
            values[name[5:]] = json.loads(value)
    return values


def set_controls(page: Any, explorer: str, **values: int | str) -> None:
    root = page.locator(f'div.cnn-explorer[data-explorer="{explorer}"]')
    for name, value in values.items():
        control = root.locator(f'[name="{name}"]')
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(str(value))
        else:
            control.fill(str(value))


def dilated(w: np.ndarray, d: int) -> np.ndarray:
    """A (O, C, k, k) kernel with d - 1 zeros between its taps: dilation as a plain kernel."""
    k = w.shape[-1]
    out = np.zeros((*w.shape[:2], d * (k - 1) + 1, d * (k - 1) + 1))
    out[..., ::d, ::d] = w
    return out


CONV_CASES = [(5, 3, 1, 2, 1, 3), (7, 3, 0, 3, 1, 1), (8, 2, 2, 3, 2, 5), (9, 4, 1, 1, 2, 7)]  # n, k, padding, stride, dilation, steps
POOL_CASES = [(6, 2, 2, "max"), (7, 3, 2, "average"), (8, 3, 1, "max"), (5, 4, 3, "average")]  # n, k, stride, mode
STACKS = [[(3, 1, 1), (3, 2, 1), (3, 1, 1)], [(5, 2, 1), (3, 2, 2), (3, 1, 3), (2, 3, 1)], [(7, 3, 4)]]  # (k, s, d) per layer


def test_convolution_explorer_agrees_with_the_course(browser: Any, base_url: str, course: dict[str, Callable[..., Any]]) -> None:
    with open_page(browser, f"{base_url}/book/padding_stride.html") as opened:
        page = opened.page
        page.wait_for_selector('div.cnn-explorer[data-explorer="conv"][data-ready]')
        for n, k, padding, stride, dilation, steps in CONV_CASES:
            set_controls(page, "conv", n=n, k=k, padding=padding, stride=stride, dilation=dilation)
            before = readout(page, "conv")["position"]
            for _ in range(steps):
                page.locator('div.cnn-explorer[data-explorer="conv"] button[name="next"]').click()
            shown = readout(page, "conv")
            taps = page.locator('div.cnn-explorer[data-explorer="conv"] rect[data-role="tap"]').count()
            x, w = np.array(shown["input"], dtype=np.float64), np.array(shown["kernel"], dtype=np.float64)
            size = course["conv_output_size"](n, k, padding=padding, stride=stride, dilation=dilation)
            expected = course["conv2d_forward"](x[None, None], dilated(w[None, None], dilation), np.zeros(1), stride=stride, padding=padding)[0, 0]
            row, col = shown["position"]
            case = f"n={n} k={k} p={padding} s={stride} d={dilation}"
            assert x.shape == (n, n) and w.shape == (k, k), case
            assert shown["output-size"] == size and f"output {size}×{size}" in shown["text"], case
            np.testing.assert_allclose(np.array(shown["output"]), expected, atol=1e-9, err_msg=case)
            start = before[0] * size + before[1]
            assert (row, col) == divmod((start + steps) % (size * size), size), f"{case}: 'next output' did not step row by row"
            assert f"is {expected[row, col]:g}." in shown["text"], shown["text"]
            assert taps == k * k, f"{case}: {taps} taps highlighted for a {k}×{k} kernel"
        assert not opened.errors, "\n".join(opened.errors)


def test_convolution_explorer_explains_a_window_that_does_not_fit(browser: Any, site_url: str, course: dict[str, Callable[..., Any]]) -> None:
    with open_page(browser, f"{site_url}/book/padding_stride.html") as opened:
        set_controls(opened.page, "conv", n=3, k=5, padding=0, dilation=1)
        shown = readout(opened.page, "conv")
        with pytest.raises(ValueError, match="spans 5 pixels"):
            course["conv_output_size"](3, 5)
        assert shown["output-size"] == 0 and "spans 5 pixels but the padded input has only 3" in shown["text"]


def test_pooling_explorer_agrees_with_the_course(browser: Any, base_url: str, course: dict[str, Callable[..., Any]]) -> None:
    with open_page(browser, f"{base_url}/book/pooling.html") as opened:
        page = opened.page
        page.wait_for_selector('div.cnn-explorer[data-explorer="pool"][data-ready]')
        for n, k, stride, mode in POOL_CASES:
            set_controls(page, "pool", n=n, k=k, stride=stride, mode=mode)
            shown = readout(page, "pool")
            x = np.array(shown["input"], dtype=np.float64)[None, None]
            pool = course["maxpool2d_forward"] if mode == "max" else course["avgpool2d_forward"]
            expected = pool(x, k, stride)[0, 0]
            case = f"n={n} k={k} s={stride} {mode}"
            assert shown["output-size"] == expected.shape[0], case
            np.testing.assert_allclose(np.array(shown["output"]), expected, atol=1e-9, err_msg=case)
            cells = page.locator('div.cnn-explorer[data-explorer="pool"] rect[data-role="output"]').count()
            assert cells == expected.size, case
        assert not opened.errors, "\n".join(opened.errors)


def receptive_field_by_autograd(layers: list[tuple[int, int, int]], size: int = 129) -> int:
    """Width of the input region the centre output of a 1-D stack of convolutions depends on."""
    x = torch.ones(1, 1, size, dtype=torch.float64, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d)
    y[0, 0, y.shape[-1] // 2].backward()
    hit = (x.grad[0, 0] != 0).nonzero()
    return int(hit.max() - hit.min() + 1)


def test_receptive_field_explorer_agrees_with_the_course_and_autograd(browser: Any, base_url: str, course: dict[str, Callable[..., Any]]) -> None:
    with open_page(browser, f"{base_url}/book/architectures.html") as opened:
        page = opened.page
        page.wait_for_selector('div.cnn-explorer[data-explorer="receptive-field"][data-ready]')
        for layers in STACKS:
            set_controls(page, "receptive-field", layers=len(layers))
            for index, (k, s, d) in enumerate(layers):
                set_controls(page, "receptive-field", **{f"k{index}": k, f"s{index}": s, f"d{index}": d})
            shown = readout(page, "receptive-field")
            effective = [(d * (k - 1) + 1, s) for k, s, d in layers]
            expected = [course["receptive_field"](effective[:depth]) for depth in range(1, len(layers) + 1)]
            assert shown["fields"] == expected, layers
            assert shown["fields"][-1] == receptive_field_by_autograd(layers), layers
            assert shown["jumps"][-1] == int(np.prod([s for _, s, _ in layers])), layers
        assert not opened.errors, "\n".join(opened.errors)


def test_a_missing_chromium_fails_under_ci_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run, not skip"):
        chromium_executable()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        chromium_executable()
