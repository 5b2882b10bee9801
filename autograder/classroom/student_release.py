"""``make student-release OUT=DIR``: the learners' repository, without solutions or hidden checks.

``python -m autograder.classroom.student_release DIR [--book-url URL]`` writes into DIR (new or
empty) a git repository with one commit, ready to push as a template:

* ``exercises/`` as generated from ``solutions/``;
* ``autograder/``: the grader, the public checks and their oracles. Each checks module ends
  above :data:`~autograder.registry.HIDDEN_CHECKS_MARKER`; the hidden oracles
  (``oracle_data/hidden/``), the book's helpers, and the instructor's tools (nbgrader release,
  this module, the Gradescope builder, the registry/notebook consistency check) stay behind;
* ``requirements.txt``, ``pyproject.toml``, the learners' CI workflow, and a learner ``README.md``
  and ``Makefile`` (``make grade``) from ``release_files/``.

No ``solutions/``, no tests (they hold solution text), no book sources (chapters import the
solutions when the site is built; the README links to the website instead).
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from autograder.paths import PACKAGE_DIR, REPO_ROOT
from autograder.registry import HIDDEN_CHECKS_MARKER

RELEASE_FILES = Path(__file__).resolve().parent / "release_files"
# Copied from the repository as they are.
TOP_LEVEL = ("exercises", "requirements.txt", "pyproject.toml", ".github/workflows/autograde.yml")
# Inside autograder/: instructor-only or book-only, relative to the package.
LEFT_OUT = (
    "oracle_data/hidden",
    "book",
    "release.py",
    "site_assets.py",
    "classroom/student_release.py",
    "classroom/gradescope.py",
    "classroom/consistency.py",
    "classroom/release_files",
)
JUNK = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")
GITIGNORE = ".venv/\n__pycache__/\n*.pyc\n.ipynb_checkpoints/\n*.egg-info/\n/grades/\nresults.json\nresults.xml\n"
DEFAULT_BOOK = "the course website (your instructor gives you its address)"
# The course Makefile's rules the learners keep (set-up and grading); the rest need solutions/,
# the book or the tests. Their help and .PHONY lines are replaced by these.
LEARNER_RULES = ("venv", "$(STAMP)", "grade")
LEARNER_MAKE = (
    ".PHONY: venv grade lab help\n\n"
    "help:\n"
    '\t@echo "make grade      grade the notebooks in exercises/ (or NB=path)"\n'
    '\t@echo "make lab        open the exercises in JupyterLab"\n'
)
LEARNER_LAB = "lab: $(STAMP)\n\t$(VENV)/bin/jupyter lab exercises\n"
_RULE = re.compile(r"^([^\s#=:][^=:]*):(?!=)")


class StudentReleaseError(RuntimeError):
    """The release cannot be written. The message is one line a person can act on."""


def public_checks_source(source: str, elsewhere: str = "") -> str:
    """A checks module's text as learners get it: without its hidden checks (everything from
    the marker on) and without ``build_oracles`` and the helpers only it used (reference models
    such as torchvision's AlexNet would hand out answers; the stored fixtures are enough to
    grade). ``elsewhere`` is the text of the rest of the package: a helper named there stays."""
    head, marker, _ = source.partition(HIDDEN_CHECKS_MARKER)
    source = head.rstrip() + "\n" if marker else source
    return _without_unused_functions(source, {"build_oracles"}, elsewhere)


def _without_unused_functions(source: str, drop: set[str], elsewhere: str) -> str:
    """``source`` without the top-level functions in ``drop``, then without every undecorated
    top-level function or class that nothing else names any more, repeatedly."""
    while True:
        tree = ast.parse(source)
        lines = source.splitlines(keepends=True)
        spans = {node.name: (min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1, node.end_lineno or node.lineno)
                 for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        decorated = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.decorator_list}

        def unused(name: str) -> bool:
            start, end = spans[name]
            rest = "".join(lines[:start] + lines[end:]) + elsewhere
            return name not in decorated and not name.startswith("test_") and re.search(rf"\b{re.escape(name)}\b", rest) is None

        remove = [name for name in spans if name in drop or unused(name)]
        if not remove:
            return source
        for name in sorted(remove, key=lambda n: spans[n][0], reverse=True):
            start, end = spans[name]
            del lines[start:end]
        source = re.sub(r"\n{4,}", "\n\n\n", "".join(lines))
        drop = set()


def _ignored(relative: Path, left_out: tuple[str, ...]) -> bool:
    if any(part in JUNK or part.endswith(".egg-info") for part in relative.parts) or relative.suffix == ".pyc":
        return True
    return any(relative == Path(p) or Path(p) in relative.parents for p in left_out)


def copy_package(target: Path, *, hidden: bool = False) -> None:
    """Copy the grader into ``target/autograder``: public checks only, or with ``hidden`` the
    hidden checks, their oracles and ``run_autograder``'s module too (the Gradescope zip)."""
    keep = ("oracle_data/hidden", "classroom/gradescope.py") if hidden else ()  # what run_autograder needs
    left_out = tuple(p for p in LEFT_OUT if p not in keep)
    for source in sorted(PACKAGE_DIR.rglob("*")):
        relative = source.relative_to(PACKAGE_DIR)
        if source.is_dir() or _ignored(relative, left_out):
            continue
        destination = target / "autograder" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if relative.parts[0] == "checks" and source.suffix == ".py" and not hidden:
            elsewhere = "".join(p.read_text(encoding="utf-8") for p in sorted(PACKAGE_DIR.rglob("*.py")) if p != source)
            destination.write_text(public_checks_source(source.read_text(encoding="utf-8"), elsewhere), encoding="utf-8")
        else:
            shutil.copyfile(source, destination)


_IMPORT_IN_TEXT = re.compile(r"(?:from|import)\s+autograder\.(\w+)|from\s+autograder\s+import\s+([\w, ]+)|-m\s+autograder\.(\w+)")


def _imported_modules(root: Path) -> set[str]:
    """Names of ``autograder``'s top-level modules that the files under ``root`` import or run
    (Python imports and ``"autograder.x"`` strings such as ``-m`` arguments; ``import`` lines in
    notebooks, Makefiles and workflows). Mentions in docstrings and comments do not count."""
    names: set[str] = set()
    for path in root.rglob("*"):
        if not path.is_file() or ".git" in path.parts:
            continue
        if path.suffix == ".py":
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("autograder.")}
                elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "autograder":
                    names |= {node.module.split(".")[1]} if "." in node.module else {a.name for a in node.names}
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"autograder(\.\w+)+", node.value):
                    names.add(node.value.split(".")[1])
        elif path.suffix in (".ipynb", ".yml", ".md", "") :
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in _IMPORT_IN_TEXT.finditer(text):
                names |= {n.strip() for n in (match.group(1) or match.group(3) or match.group(2)).split(",")}
    return names


def drop_unused_modules(root: Path) -> list[str]:
    """Remove ``root/autograder``'s top-level modules that nothing in ``root`` imports or runs
    any more (e.g. a reference model only ``build_oracles`` used); returns their names."""
    removed: list[str] = []
    while True:
        used = _imported_modules(root)
        unused = [p for p in sorted((root / "autograder").glob("*.py")) if p.stem not in used and p.stem not in ("__init__", "__main__")]
        if not unused:
            return removed
        for path in unused:
            path.unlink()
            removed.append(path.stem)


def copy_top_level(target: Path, names: tuple[str, ...] = TOP_LEVEL) -> None:
    """Copy files and folders of the repository (paths relative to its root) into ``target``."""
    for name in names:
        source = REPO_ROOT / name
        if not source.exists():
            raise StudentReleaseError(f"{source} is missing; run `make exercises` (or restore it from git) first.")
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*JUNK))
        else:
            shutil.copyfile(source, destination)


def learner_makefile(course_makefile: str) -> str:
    """The course Makefile cut down to what learners run: its variables, ``venv`` and
    ``grade`` (with the same set-up recipe), a short help and ``make lab``."""
    kept = []
    for block in course_makefile.strip("\n").split("\n\n"):
        rule = _RULE.match(block)
        if rule is None:
            kept.append(block)
        elif rule.group(1).strip() in LEARNER_RULES:
            kept.append(block)
        elif rule.group(1).strip() == "help":
            kept.append(LEARNER_MAKE.rstrip("\n"))
    return "\n\n".join(kept + [LEARNER_LAB.rstrip("\n")]) + "\n"


def _git_commit(target: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "CNN course", "GIT_AUTHOR_EMAIL": "course@example.invalid",
           "GIT_COMMITTER_NAME": "CNN course", "GIT_COMMITTER_EMAIL": "course@example.invalid"}
    for command in (["init", "--quiet", "--initial-branch=main"], ["add", "--all"], ["commit", "--quiet", "-m", "Course exercises and autograder (student release)"]):
        run = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *command], cwd=target, env=env, capture_output=True, text=True)
        if run.returncode != 0:
            raise StudentReleaseError(f"git {command[0]} failed in {target}: {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.returncode}")


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` outside ``.git`` and ignored ``.venv``, by relative path."""
    skip = (".git", ".venv")
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and not set(p.relative_to(root).parts) & set(skip)}


def _write_tree(target: Path, book_url: str | None) -> None:
    copy_top_level(target)
    copy_package(target)
    drop_unused_modules(target)
    book = f"[the course website]({book_url})" if book_url else DEFAULT_BOOK
    readme = (RELEASE_FILES / "README.md").read_text(encoding="utf-8").replace("{book}", book)
    (target / "README.md").write_text(readme, encoding="utf-8")
    (target / "Makefile").write_text(learner_makefile((REPO_ROOT / "Makefile").read_text(encoding="utf-8")), encoding="utf-8")
    (target / ".gitignore").write_text(GITIGNORE, encoding="utf-8")


def build(target: Path, *, book_url: str | None = None) -> bool:
    """Write the student release into ``target``: a new or empty folder, or one holding this
    very release already (then nothing is written, so ``make student-release`` is idempotent).

    Returns:
        Whether anything was written.

    Raises:
        StudentReleaseError: ``target`` is inside the course, or holds other files, or a part of
            the course is missing.
    """
    target = Path(target)
    if target.resolve().is_relative_to(REPO_ROOT):
        raise StudentReleaseError(f"{target} is inside the course repository; choose a folder outside it, e.g. OUT=../cnn-course-student.")
    if target.exists() and any(target.iterdir()):
        with tempfile.TemporaryDirectory(prefix="cnn-course-student-") as tmp:
            _write_tree(Path(tmp), book_url)
            if _files(Path(tmp)) == _files(target):
                return False
        raise StudentReleaseError(f"{target} is not empty and differs from this release; choose a new folder (the release never overwrites files).")
    target.mkdir(parents=True, exist_ok=True)
    _write_tree(target, book_url)
    _git_commit(target)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.classroom.student_release", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a new or empty folder outside the course repository")
    parser.add_argument("--book-url", help="the course website's address, linked from the learner README")
    args = parser.parse_args(argv)
    written: list[bool] = []
    code = run_builder(lambda: written.append(build(args.out, book_url=args.book_url)), "")
    if code == 0:
        print(f"student release written to {args.out} (one commit): push it as the learners' template repository." if written[0] else f"{args.out} already holds this student release; nothing written.")
    return code


def run_builder(make: Callable[[], object], done: str) -> int:
    """Exit code of a ``make`` target that writes something: 0 and ``done`` on stdout, or 2 and
    the one-line reason on stderr."""
    try:
        make()
    except (StudentReleaseError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if done:
        print(done)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
