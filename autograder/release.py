"""Generate the learners' notebooks in ``exercises/`` from ``solutions/`` with nbgrader.

``python -m autograder.release [ASSIGNMENT ...] [--output DIR]`` is what ``make exercises`` runs.
Each assignment goes through nbgrader's ``generate_assignment`` (configured by the repository's
``nbgrader_config.py``) in a throwaway course folder with its own gradebook, so a release never
touches the instructor's ``gradebook.db`` (``--gradebook`` records the assignments there, as
``nbgrader autograde`` needs); the result is then copied into ``exercises/<id>/``.

The output is stable: nbgrader's checksums and cell ids depend only on the solution notebook, and
editor state that does change between saves (timings, scroll positions, the kernel's version) is
stripped. A file is rewritten only when its bytes change, so an unchanged solution leaves
``exercises/`` as it was and ``git status`` clean.

A release never loses anyone's work: it writes nothing unless every assignment generated, and it
replaces or removes only files that are exactly what an earlier release wrote (their digests are
in ``exercises/.released.json``). A notebook a learner has edited, even only re-saved, stops it
with one line.

Each assignment is also released in every language of
:data:`autograder.i18n.TRANSLATED`, into ``exercises/<lang>/<id>/`` with its
own ``exercises/<lang>/.released.json``: the English solution notebook is translated with the
assignment's catalog (``locales/<lang>/LC_MESSAGES/exercises/<id>.po``) and goes through the same
nbgrader ``generate_assignment``. A separate folder, not a second notebook beside the English one,
because nbgrader sums every notebook of an assignment folder. A missing, incomplete or fuzzy
catalog stops the release before anything is written.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence
from unittest import mock

from autograder.assignments import ASSIGNMENTS, get_assignment
from autograder.i18n import TRANSLATED, _
from autograder.notebook_i18n import CatalogError, catalog_problems, write_translated_sources
from autograder.paths import EXERCISES_DIR, REPO_ROOT, SOLUTIONS_DIR

NBGRADER_CONFIG: Path = REPO_ROOT / "nbgrader_config.py"

# Editor and kernel state, not content: it changes when a notebook is merely opened or run.
VOLATILE_NOTEBOOK_METADATA: tuple[str, ...] = ("widgets", "vscode", "toc", "varInspector", "celltoolbar", "papermill")
VOLATILE_CELL_METADATA: tuple[str, ...] = ("execution", "ExecuteTime", "collapsed", "scrolled", "papermill")
# Of language_info only the name says anything about the notebook; the rest is the kernel's version.
STABLE_LANGUAGE_INFO: tuple[str, ...] = ("name",)


class ReleaseError(RuntimeError):
    """An exercise could not be generated. The message is one line a person can act on."""


def load_nbgrader_config(path: Path = NBGRADER_CONFIG) -> Any:
    """The course's nbgrader configuration as a traitlets ``Config``."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()


def normalize_notebook(data: dict[str, Any]) -> dict[str, Any]:
    """Strip volatile editor and kernel metadata from notebook JSON (in place; also returned)."""
    metadata = data.setdefault("metadata", {})
    for key in VOLATILE_NOTEBOOK_METADATA:
        metadata.pop(key, None)
    if isinstance(metadata.get("language_info"), dict):
        metadata["language_info"] = {k: v for k, v in metadata["language_info"].items() if k in STABLE_LANGUAGE_INFO}
    for cell in data.get("cells", []):
        cell_metadata = cell.get("metadata", {})
        for key in VOLATILE_CELL_METADATA:
            cell_metadata.pop(key, None)
    return data


def notebook_bytes(data: dict[str, Any]) -> bytes:
    """Serialize notebook JSON exactly as ``nbformat.write`` lays it out."""
    return (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def read_normalized(path: Path) -> dict[str, Any]:
    """A notebook file's JSON with volatile metadata stripped."""
    return normalize_notebook(json.loads(path.read_text(encoding="utf-8")))


def _alembic_head() -> str:
    """The schema revision nbgrader stamps on a new gradebook, read in process."""
    import nbgrader
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head() or ""


@lru_cache(maxsize=None)
def _empty_gradebook() -> Path:
    """An empty gradebook made by nbgrader, once per process. nbgrader asks a subprocess,
    `alembic heads`, for the schema revision (seconds, and only when the venv is on PATH); the
    same answer is read in process instead."""
    import nbgrader.api
    from nbgrader.api import Gradebook

    folder = Path(tempfile.mkdtemp(prefix="cnn-course-gradebook-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "gradebook.db"
    with mock.patch.object(nbgrader.api, "get_alembic_version", _alembic_head), Gradebook(f"sqlite:///{path}"):
        pass
    return path


def new_gradebook(path: Path) -> str:
    """Create an empty nbgrader gradebook at ``path`` (a new file); returns its database URL."""
    shutil.copyfile(_empty_gradebook(), path)
    return f"sqlite:///{path}"


@contextmanager
def _captured_nbgrader_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    buffer = io.StringIO()
    logger = logging.getLogger("autograder.release.nbgrader")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger.addHandler(handler)
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)


def _failure_summary(log: str, assignment_id: str, exc: BaseException) -> str:
    """``"<id>/<notebook>: <first error nbgrader logged>"`` from a captured nbgrader log."""
    where = assignment_id
    for line in log.splitlines():
        converting = re.match(r"\[INFO\] Converting notebook (.+)", line)
        if converting:
            where = f"{assignment_id}/{Path(converting.group(1)).name}"
        elif line.startswith("[ERROR] "):
            return f"{where}: {line.removeprefix('[ERROR] ').split(' Cell contents are:')[0].strip()}"
    return f"{where}: {type(exc).__name__}: {exc}"


def _run_generate_assignment(course_root: Path, assignment_id: str, config: Any) -> Path:
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    with _captured_nbgrader_log() as (logger, log):
        coursedir = CourseDirectory(config=config, log=logger)
        coursedir.assignment_id = assignment_id
        converter = GenerateAssignment(coursedir=coursedir, config=config, log=logger)
        converter.force = True
        try:
            converter.start()
        except Exception as exc:  # noqa: BLE001 - nbgrader logs the cause; report it in one line
            raise ReleaseError(_("nbgrader generate_assignment failed for {failure}").format(failure=_failure_summary(log.getvalue(), assignment_id, exc))) from None
    return course_root / "release" / assignment_id


MANIFEST_NAME = ".released.json"
"""In the output folder: each file a release wrote and its SHA-256, so a later release can tell
its own untouched files (which it may replace or remove) from a learner's work (which it never
touches)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(output_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((output_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _wanted_files(generated: Path) -> dict[Path, bytes]:
    """Relative path -> the bytes a release writes (notebooks normalized)."""
    wanted: dict[Path, bytes] = {}
    for source in sorted(p for p in generated.rglob("*") if p.is_file()):
        relative = source.relative_to(generated)
        wanted[relative] = notebook_bytes(read_normalized(source)) if source.suffix == ".ipynb" else source.read_bytes()
    return wanted


def _plan(wanted: dict[Path, bytes], target: Path, released: dict[str, str], prefix: str) -> tuple[dict[Path, bytes], list[Path], list[Path]]:
    """(files to write, files to remove, files that hold someone's changes) for one assignment
    folder. A file may be replaced or removed only when it is missing or exactly what the last
    release wrote (its digest is in the manifest); any other file is someone's work."""
    writes: dict[Path, bytes] = {}
    removals: list[Path] = []
    edited: list[Path] = []
    for relative, content in wanted.items():
        path = target / relative
        if path.is_symlink() or (path.exists() and not path.is_file()):
            edited.append(path)
        elif not path.exists():
            writes[path] = content
        else:
            current = path.read_bytes()
            if current == content:
                continue
            if released.get(f"{prefix}/{relative.as_posix()}") == _sha256(current):
                writes[path] = content
            else:
                edited.append(path)
    for key, digest in released.items():
        if not key.startswith(prefix + "/"):
            continue
        relative = Path(key[len(prefix) + 1:])
        path = target / relative
        if relative not in wanted and path.is_file() and not path.is_symlink() and _sha256(path.read_bytes()) == digest:
            removals.append(path)  # a stale file of an earlier release, unchanged; anything else stays
    return writes, removals, edited


def _apply(writes: dict[Path, bytes], removals: list[Path]) -> list[Path]:
    changed: list[Path] = []
    for path in removals:
        path.unlink()
        changed.append(path)
        parent = path.parent
        while parent.exists() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    for path, content in writes.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.releasing")
        temporary.write_bytes(content)
        os.replace(temporary, path)  # a reader never sees half a notebook
        changed.append(path)
    return changed


def edited_files(assignment_ids: Sequence[str], output_dir: Path) -> list[Path]:
    """The files an earlier release wrote into ``output_dir`` for these assignments that have
    changed since (someone's work)."""
    released = _read_manifest(Path(output_dir))
    return [path for key, digest in released.items() if key.split("/", 1)[0] in assignment_ids
            for path in [Path(output_dir) / key] if path.is_file() and _sha256(path.read_bytes()) != digest]


def _refuse_edits(edited: list[Path]) -> None:
    if edited:
        more = " " + _("(and {count} more)").format(count=len(edited) - 1) if len(edited) > 1 else ""
        raise ReleaseError(_("{path}{more} has changes that no release made (someone's work?); nothing was written: move it elsewhere first, or release into another folder with --output.").format(path=os.path.relpath(edited[0]), more=more))


def generate(
    assignment_ids: Sequence[str],
    output_dir: Path = EXERCISES_DIR,
    source_dir: Path = SOLUTIONS_DIR,
    *,
    db_url: str | None = None,
) -> list[Path]:
    """Run nbgrader ``generate_assignment`` on ``source_dir/<id>/`` for each id and put the
    result in ``output_dir/<id>/``.

    All assignments are generated in a temporary folder first; ``output_dir`` changes only when
    every one succeeded and no file there holds changes a release did not make (a learner's
    work): a release replaces or removes only its own untouched files, recorded with their
    digests in ``output_dir/.released.json``.

    Args:
        assignment_ids: folder names under ``source_dir``, e.g. ``["01-convolution"]``.
        output_dir: where the assignment folders go (``exercises/`` by default).
        source_dir: the nbgrader source folder (``solutions/`` by default).
        db_url: an existing gradebook to record the assignments in (what ``nbgrader autograde``
            needs); a throwaway one when ``None``.

    Returns:
        The files written or removed (empty when everything was already up to date).

    Raises:
        ReleaseError: a source folder is missing, nbgrader rejects a notebook, or a file in
            ``output_dir`` holds someone's changes (nothing is written then).
    """
    for assignment_id in assignment_ids:
        if not any((source_dir / assignment_id).glob("*.ipynb")):
            raise ReleaseError(_("{folder} holds no notebook; write the solution notebook first.").format(folder=source_dir / assignment_id))
    output_dir = Path(output_dir)
    released = _read_manifest(output_dir)
    _refuse_edits(edited_files(assignment_ids, output_dir))  # before the slow part
    plans = []
    with tempfile.TemporaryDirectory(prefix="cnn-course-release-") as tmp:
        course_root = Path(tmp)
        (course_root / "source").symlink_to(Path(source_dir).resolve(), target_is_directory=True)
        config = load_nbgrader_config()
        config.CourseDirectory.db_url = db_url or new_gradebook(course_root / "gradebook.db")
        config.CourseDirectory.root = str(course_root)
        config.CourseDirectory.source_directory = "source"
        config.CourseDirectory.release_directory = "release"
        for assignment_id in assignment_ids:
            wanted = _wanted_files(_run_generate_assignment(course_root, assignment_id, config))
            plans.append((assignment_id, wanted, *_plan(wanted, output_dir / assignment_id, released, assignment_id)))
    _refuse_edits([path for *_, paths in plans for path in paths])
    changed: list[Path] = []
    for assignment_id, wanted, writes, removals, _paths in plans:
        changed += _apply(writes, removals)
        released = {k: v for k, v in released.items() if not k.startswith(assignment_id + "/")}
        released.update({f"{assignment_id}/{relative.as_posix()}": _sha256(content) for relative, content in wanted.items()})
    manifest = (json.dumps(dict(sorted(released.items())), indent=1) + "\n").encode("utf-8")
    manifest_path = output_dir / MANIFEST_NAME
    if not manifest_path.is_file() or manifest_path.read_bytes() != manifest:
        changed += _apply({manifest_path: manifest}, [])
    return changed


def generate_translations(assignment_ids: Sequence[str], output_dir: Path = EXERCISES_DIR, languages: Sequence[str] = TRANSLATED) -> list[Path]:
    """Release the assignments in each of ``languages`` into ``output_dir/<lang>/<id>/``, as
    :func:`generate` releases the English ones (same nbgrader run, same manifest rules).

    Returns:
        The files written or removed.

    Raises:
        ReleaseError: a catalog is missing, incomplete or fuzzy (nothing is written then), or
            :func:`generate` refuses.
    """
    problems = list(catalog_problems([get_assignment(i) for i in assignment_ids], languages))
    if problems:
        more = f" ({len(problems) - 1} more catalog(s) need work too)" if len(problems) > 1 else ""
        raise ReleaseError(problems[0] + more)
    changed: list[Path] = []
    for lang in languages:
        with tempfile.TemporaryDirectory(prefix=f"cnn-course-{lang}-") as tmp:
            try:
                write_translated_sources([get_assignment(i) for i in assignment_ids], lang, Path(tmp))
            except CatalogError as exc:
                raise ReleaseError(str(exc)) from None
            changed += generate(assignment_ids, Path(output_dir) / lang, Path(tmp))
    return changed


def temp_course(root: Path, assignment_ids: Sequence[str]) -> str:
    """Make ``root`` a throwaway nbgrader course: ``source`` links to ``solutions/`` and the
    assignments are released into ``root/release`` and recorded in a fresh gradebook, ready for
    submissions under ``root/submitted/<student>/<id>/`` and ``nbgrader autograde``.

    Returns:
        The URL of the course's gradebook (``sqlite:///root/gradebook.db``).
    """
    db_url = new_gradebook(root / "gradebook.db")
    (root / "source").symlink_to(SOLUTIONS_DIR, target_is_directory=True)
    generate(assignment_ids, root / "release", db_url=db_url)
    return db_url


def _course_gradebook() -> str:
    """The URL of the gradebook ``nbgrader_config.py`` names, created when missing."""
    db_url = load_nbgrader_config().CourseDirectory.db_url
    path = Path(db_url.removeprefix("sqlite:///"))
    if db_url.startswith("sqlite:///") and not path.exists():
        new_gradebook(path)
    return db_url


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.release",
        description=_("Regenerate the exercise notebooks from solutions/ with nbgrader generate_assignment."),
    )
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help=_("ids or numbers, e.g. 02 or 02-padding-stride (default: all)"))
    parser.add_argument("--output", type=Path, default=EXERCISES_DIR, help=_("where to write the assignment folders (default: exercises/)"))
    parser.add_argument("--gradebook", action="store_true", help=_("also record the assignments in gradebook.db, as nbgrader autograde needs"))
    parser.add_argument("--english-only", action="store_true", help=_("skip the translated exercises ({languages}), e.g. while a catalog is being translated").format(languages=", ".join(TRANSLATED)))
    args = parser.parse_args(argv)

    try:
        chosen = [get_assignment(key) for key in args.assignments]
    except ValueError as exc:
        print(_("error: {problem}").format(problem=exc), file=sys.stderr)
        return 2
    if not chosen:
        chosen = [a for a in ASSIGNMENTS if a.solution_path.exists()]
        for missing in (a for a in ASSIGNMENTS if a not in chosen):
            print(_("skipped {assignment}: {path} does not exist yet").format(assignment=missing.id, path=missing.solution_path.relative_to(REPO_ROOT)))
    for assignment in chosen:
        if not assignment.solution_path.exists():
            print(_("error: {path} does not exist; write the solution notebook first.").format(path=assignment.solution_path), file=sys.stderr)
            return 2

    languages = () if args.english_only else TRANSLATED
    problems = list(catalog_problems(chosen, languages))
    if problems:
        for problem in problems:
            print(_("error: {problem}").format(problem=problem), file=sys.stderr)
        print(_("nothing was released; `--english-only` releases the English exercises alone."), file=sys.stderr)
        return 1
    try:
        ids = [a.id for a in chosen]
        _refuse_edits(edited_files(ids, args.output) + [p for lang in languages for p in edited_files(ids, args.output / lang)])  # before writing either language
        db_url = _course_gradebook() if args.gradebook else None
        changed = generate([a.id for a in chosen], args.output, db_url=db_url)
        if languages:
            changed += generate_translations([a.id for a in chosen], args.output, languages)
    except ReleaseError as exc:
        print(_("error: {problem}").format(problem=exc), file=sys.stderr)
        return 1
    for path in changed:
        print((_("wrote {path}") if path.exists() else _("removed {path}")).format(path=os.path.relpath(path)))
    also = " " + _("(and in {languages})").format(languages=", ".join(languages)) if languages else ""
    print(_("{count} assignment(s) released to {folder}{also}: {changed} file(s) changed.").format(count=len(chosen), folder=os.path.relpath(args.output), also=also, changed=len(changed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
