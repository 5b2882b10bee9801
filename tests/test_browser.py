"""The built website in a real browser: headless Chromium, driven over the DevTools protocol.

Pages are served from the build of tests/test_book.py on a loopback HTTP server. Each page must
load with no JavaScript error or failed request in the console, MathJax must have typeset its
math, and the padding page must render the explorer's widgets. Screenshots go to
_build/screenshots/ for a person to look at.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import serve_folder
from test_book import REPO_ROOT, BuiltBook, build_book_once

pytestmark = [pytest.mark.book, pytest.mark.slow, pytest.mark.xdist_group("book")]

SCREENSHOT_DIR = REPO_ROOT / "_build" / "screenshots"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--window-size=1280,1600", "--remote-debugging-port=0", "--remote-allow-origins=*",
)
PAGE_TIMEOUT_S = 60
# What DevTools answers when an evaluation meets a navigation (the root page redirects by meta refresh).
NAVIGATION_ERRORS = ("Inspected target navigated or closed", "Execution context was destroyed", "Cannot find context")


def find_or_install_chromium() -> str:
    """Debian's chromium, installed with apt-get when missing and running as root; else skip."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and apt-get cannot install it here (needs root); `apt-get install chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
        if result.returncode != 0:
            pytest.skip(f"could not install chromium with apt-get: {(result.stderr.strip().splitlines() or ['no output'])[-1]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but no `chromium` is on the PATH")
    return found


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    book: BuiltBook = build_book_once(tmp_path_factory)
    with serve_folder(book.html) as url:
        yield url


class DevTools:
    """The little of the Chrome DevTools protocol the tests need, over one page's websocket."""

    def __init__(self, websocket_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(websocket_url, timeout=PAGE_TIMEOUT_S, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for_event(self, method: str, timeout: float = PAGE_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_until(self, expression: str, timeout: float = PAGE_TIMEOUT_S) -> Any:
        """Poll ``expression`` until it is truthy; a page that is still navigating is polled again."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except RuntimeError as error:
                if not any(phrase in str(error) for phrase in NAVIGATION_ERRORS):
                    raise
                value = None
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.25)

    def console_errors(self) -> list[str]:
        errors = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                entry = params["entry"]
                if entry.get("url", "").endswith("/favicon.ico"):
                    continue  # the browser's own request on the root redirect page, which has no icon link
                errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        return errors

    def screenshot(self, path: Path) -> None:
        height = int(self.evaluate("document.documentElement.scrollHeight") or 1600)
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=min(height, 12000), deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[str]:
    """A headless Chromium with an empty profile; yields its DevTools HTTP endpoint."""
    executable = find_or_install_chromium()
    profile = tempfile.mkdtemp(prefix="cnn-course-chromium-")
    process = subprocess.Popen([executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = Path(profile) / "DevToolsActivePort"
    try:
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"chromium did not start (exit code {process.poll()})")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def open_page(browser: str, url: str) -> Iterator[DevTools]:
    """Open ``url`` in a new tab with console and log capture on, wait for the load event, and
    close the tab's connection afterwards."""
    request = urllib.request.Request(f"{browser}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        target = json.load(response)
    tab = DevTools(target["webSocketDebuggerUrl"])
    try:
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            tab.call(domain)
        tab.call("Page.navigate", url=url)
        tab.wait_for_event("Page.loadEventFired")
        yield tab
    finally:
        tab.close()


@pytest.mark.parametrize(
    ("page", "screenshot"),
    [("book/intro.html", "intro.png"), ("book/convolution.html", "convolution.png"), ("book/padding_stride.html", "padding_stride.png")],
)
def test_page_loads_without_javascript_errors_and_typesets_math(browser: str, site_url: str, page: str, screenshot: str) -> None:
    with open_page(browser, f"{site_url}/{page}") as tab:
        typeset = tab.wait_until("document.querySelectorAll('mjx-container').length")
        if page.endswith("padding_stride.html"):
            tab.wait_until("document.querySelectorAll('.widget-slider').length >= 5 && document.querySelector('.widget-output img') !== null")
        time.sleep(0.5)  # late console messages (fonts, widget views)
        tab.screenshot(SCREENSHOT_DIR / screenshot)
        errors = tab.console_errors()
        title = tab.evaluate("document.title")
        assert not errors, f"{page}: errors in the browser console:\n" + "\n".join(errors)
        assert typeset, f"{page} ({title}): MathJax produced no mjx-container element"


def test_site_root_redirects_to_the_introduction(browser: str, site_url: str) -> None:
    with open_page(browser, f"{site_url}/index.html") as tab:
        arrived = tab.wait_until("location.pathname.endsWith('/book/intro.html') && document.readyState === 'complete'")
        where = tab.evaluate("location.pathname")
        assert arrived, f"index.html did not redirect to book/intro.html (the browser is at {where})"
        assert tab.wait_until("document.querySelectorAll('mjx-container').length"), "the introduction reached from the root has no typeset math"
        errors = tab.console_errors()
        assert not errors, "errors in the browser console on the way from index.html:\n" + "\n".join(errors)


def test_padding_page_renders_the_explorer_without_a_kernel(browser: str, site_url: str) -> None:
    with open_page(browser, f"{site_url}/book/padding_stride.html") as tab:
        ready = tab.wait_until("document.querySelectorAll('.widget-slider').length >= 5 && document.querySelector('.widget-output img') !== null")
        labels = tab.evaluate("Array.from(document.querySelectorAll('.widget-slider .widget-label')).map(e => e.textContent)")
        assert ready, f"the explorer did not render from its embedded state (labels found: {labels})"
        assert labels == ["W input", "K kernel", "P padding", "S stride", "D dilation"]
