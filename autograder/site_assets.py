"""Offline copies of the website's JavaScript: MathJax 3, RequireJS and the ipywidgets embed
manager, so the built book renders math and widgets with no internet.

Two halves:

* ``python -m autograder.site_assets`` (run by ``make book``) copies the files the book needs
  from the npm packages pinned in ``package.json`` into ``book/_static/vendor/`` (gitignored).
  It runs ``npm ci`` only when ``node_modules`` lacks them, and does nothing when the copies are
  already there, so a rebuild costs nothing. Without npm it says so and the site falls back to
  the CDNs.
* As a Sphinx extension (``sphinx.extra_extensions`` in ``_config.yml``) it checks that the local
  files named by ``mathjax_path`` and ``nb_ipywidgets_js`` exist and, for any that do not, puts
  back the CDN defaults of Sphinx and myst-nb, so a build without npm still works. It also drops
  scripts that reach a page twice (see :func:`_drop_duplicate_scripts`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from autograder.paths import REPO_ROOT

STATIC_DIR: Path = REPO_ROOT / "book" / "_static"
VENDOR_DIR: Path = STATIC_DIR / "vendor"
STAMP_NAME = ".versions.json"
NPM_CI = ("npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
NPM_TIMEOUT_S = 600


@dataclass(frozen=True)
class Asset:
    """Files of one npm package to serve from ``book/_static/vendor/<target>``.

    Attributes:
        package: the npm package name, as in ``package.json``.
        source: folder inside the package that the ``paths`` are relative to.
        paths: files or folders to copy (folders recursively), or glob patterns of files.
        target: folder under ``vendor/``.
    """

    package: str
    source: str
    paths: tuple[str, ...]
    target: str


ASSETS: tuple[Asset, ...] = (
    # tex-mml-chtml is Sphinx's default component; it loads its fonts, TeX extensions and the
    # accessibility menu from the folders beside it.
    Asset("mathjax", "es5", ("tex-mml-chtml.js", "input", "output/chtml", "ui", "a11y", "sre", "adaptors"), "mathjax"),
    Asset("requirejs", "", ("require.js",), "requirejs"),
    # embed-amd.js bundles @jupyter-widgets/base, controls and output, all the book uses; the
    # fonts are its Font Awesome icons, found through book/_static/widgets-offline.js.
    Asset("@jupyter-widgets/html-manager", "dist", ("embed-amd.js", "embed.js.LICENSE.txt", "*.woff2", "*.woff"), "html-manager"),
)


def pinned_versions(root: Path = REPO_ROOT) -> dict[str, str]:
    """The versions ``package.json`` pins, e.g. ``{"mathjax": "3.2.2", ...}``."""
    return dict(json.loads((root / "package.json").read_text(encoding="utf-8"))["dependencies"])


def _installed_version(node_modules: Path, package: str) -> str | None:
    manifest = node_modules / package / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8")).get("version"))


def local_copies_present(vendor_dir: Path = VENDOR_DIR) -> bool:
    """Whether every file the book serves locally is in ``vendor_dir``."""
    return all(any((vendor_dir / a.target).glob(p)) for a in ASSETS for p in a.paths)


def _vendored_ok(vendor_dir: Path, versions: dict[str, str]) -> bool:
    stamp = vendor_dir / STAMP_NAME
    if not stamp.is_file() or json.loads(stamp.read_text(encoding="utf-8")) != versions:
        return False
    return local_copies_present(vendor_dir)


def _node_modules_ok(node_modules: Path, versions: dict[str, str]) -> bool:
    return all(_installed_version(node_modules, a.package) == versions[a.package] for a in ASSETS)


def _copy(node_modules: Path, vendor_dir: Path) -> None:
    for asset in ASSETS:
        source = node_modules / asset.package / asset.source
        target = vendor_dir / asset.target
        shutil.rmtree(target, ignore_errors=True)
        for pattern in asset.paths:
            for src in sorted(source.glob(pattern)):
                dst = target / src.relative_to(source)
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, dst)
                else:
                    shutil.copy2(src, dst)


def ensure_assets(root: Path = REPO_ROOT, vendor_dir: Path = VENDOR_DIR, force: bool = False) -> str:
    """Make ``vendor_dir`` hold the pinned assets; return one line saying what happened.

    Never raises for a missing or failing npm: the book then uses the CDNs (see :func:`setup`).

    Args:
        root: the folder with ``package.json`` (and ``node_modules``).
        vendor_dir: where the copies go, inside a folder of ``html_static_path``.
        force: copy again even when the copies look current.
    """
    versions = pinned_versions(root)
    if not force and _vendored_ok(vendor_dir, versions):
        return f"site assets: up to date in {vendor_dir}"
    node_modules = root / "node_modules"
    if not _node_modules_ok(node_modules, versions):
        if shutil.which("npm") is None:
            return "site assets: npm not found; the site will load MathJax and the widget manager from CDNs"
        try:
            result = subprocess.run(NPM_CI, cwd=root, capture_output=True, text=True, check=False, timeout=NPM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return f"site assets: `npm ci` took over {NPM_TIMEOUT_S} s; the site will load MathJax and the widget manager from CDNs"
        if result.returncode != 0 or not _node_modules_ok(node_modules, versions):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return f"site assets: `npm ci` failed ({last}); the site will load MathJax and the widget manager from CDNs"
    _copy(node_modules, vendor_dir)
    (vendor_dir / ".gitignore").write_text("# Copied from node_modules by `python -m autograder.site_assets`.\n*\n", encoding="utf-8")
    (vendor_dir / STAMP_NAME).write_text(json.dumps(versions, sort_keys=True), encoding="utf-8")
    return f"site assets: copied {', '.join(sorted(versions))} into {vendor_dir}"


def _local_file(app: Any, uri: str) -> bool:
    """Whether a static-relative ``uri`` exists in one of the ``html_static_path`` folders."""
    return any((Path(app.confdir) / folder / uri).is_file() for folder in app.config.html_static_path)


def _use_cdn_for_missing(app: Any, config: Any) -> None:
    from sphinx.ext.mathjax import MATHJAX_URL
    from sphinx.util import logging

    from myst_nb.core.config import ipywidgets_js_factory

    logger = logging.getLogger(__name__)
    missing = []
    if "://" not in config.mathjax_path and not _local_file(app, config.mathjax_path):
        missing.append(config.mathjax_path)
        config.mathjax_path = MATHJAX_URL
    local_js = [uri for uri in config.nb_ipywidgets_js if "://" not in uri]
    if absent := [uri for uri in local_js if not _local_file(app, uri)]:
        missing += absent
        config.nb_ipywidgets_js = ipywidgets_js_factory()
    if missing:
        # info, not a warning: a build without npm is allowed (and -W turns warnings into errors)
        logger.info(f"site assets: {', '.join(missing)} missing (run `python -m autograder.site_assets`); using the CDNs")


def _drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any], doctree: Any) -> None:
    """Keep one copy of each script. Inline scripts added while reading reach the page twice in
    Sphinx 7.4 (once with filename None, once with ""), and the second ``const THEBE_JS_URL`` of
    sphinx-thebe is a SyntaxError in the browser console."""
    unique: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
    for script in sorted(context.get("script_files", []), key=lambda js: getattr(js, "priority", 500)):
        filename = getattr(script, "filename", script) or ""
        attributes = {k: str(v) for k, v in getattr(script, "attributes", {}).items() if k != "priority"}
        unique.setdefault((str(filename), tuple(sorted(attributes.items()))), script)
    context["script_files"] = list(unique.values())


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension entry point."""
    app.connect("config-inited", _use_cdn_for_missing)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.site_assets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="copy again even when the copies look current")
    args = parser.parse_args(argv)
    print(ensure_assets(force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
