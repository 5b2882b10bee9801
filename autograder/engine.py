"""Run the checks through pytest, in this trusted process, against a sandboxed notebook.

Every check is a pytest test (``@check`` marks it with ``pytest.mark.check(id=..., points=...)``)
that takes a ``learner`` fixture. :func:`grade_notebook` starts the sandboxed child first, so
its start-up overlaps pytest's, then runs ``pytest.main`` on the assignment's checks module with
:class:`GradingPlugin`, which provides the fixture, applies ``--only`` and turns each test report
into a :class:`CheckResult`. Scores come only from these reports: what the learner's code prints
or patches in its own process cannot change them.

The same plugin lets any CI run the checks under plain pytest::

    pytest -p autograder.engine --notebook exercises/02-padding-stride/padding_stride.ipynb \\
        --pyargs autograder.checks.padding_stride
"""

from __future__ import annotations

import fnmatch
import os
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from autograder.assignments import ASSIGNMENTS, FORBIDDEN_IN_NUMPY_ASSIGNMENTS, Assignment
from autograder.errors import CourseSetupError
from autograder.i18n import _
from autograder.isolation.policy import STANDINS_IN_CHILD, IsolationUnavailable, notebook_mounts, use_bwrap
from autograder.isolation.warm import shared_pool
from autograder.notebook import Notebook, NotebookError, detect_assignment, read_notebook
from autograder.paths import ORACLE_DATA_DIR, PACKAGE_DIR
from autograder.registry import CheckFailed, checks_module, get_check
from autograder.sandbox import GIB, Limits, SandboxedLearner

_NUMPY_ONLY = [a.number for a in ASSIGNMENTS if a.numpy_only]


def numpy_only_rule() -> str:
    """The end of "your notebook imports torch, which ..." in the current language."""
    return _("is not allowed in the NumPy assignments ({numbers}); write it with NumPy only").format(numbers=", ".join(_NUMPY_ONLY))


TORCH_MEMORY = 4 * GIB  # torch maps about 0.8 GiB just by being imported
CHECK_MARKER = "check(id, points): a graded check of the autograder"


class GradingError(RuntimeError):
    """pytest could not run the checks (a bug or a broken installation, not the learner's)."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        id: the check id, e.g. ``"02.pad2d.values"``.
        title: the check's one-line title.
        points: points available.
        earned: points earned (all or nothing).
        status: ``"passed"``, ``"failed"`` (the learner's code), ``"error"`` (the check itself
            broke) or ``"skipped"``.
        message: the failure's teaching message; empty when passed.
        duration: seconds.
        hidden: an instructor-only check (official grading); its message is for the staff
            until grades are published.
    """

    id: str
    title: str
    points: float
    earned: float
    status: str
    message: str = ""
    duration: float = 0.0
    hidden: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class NotebookResult:
    """Everything grading one notebook produced.

    Attributes:
        path: the notebook.
        assignment: its assignment id.
        checks: one result per selected check, in definition order.
        cell_errors: cells that raised, hung or ended the process while the notebook ran.
        forbidden_imports: forbidden modules the cells tried to import.
        output: what the notebook printed (start and end); not part of grading.
        info: informational text (05's own-layers report); not part of grading.
        duration: wall seconds.
        error: why the notebook could not be graded (one line); empty when it was.
        internal: the error is the grader's fault, not the file's.
    """

    path: Path
    assignment: str
    checks: list[CheckResult] = field(default_factory=list)
    cell_errors: list[str] = field(default_factory=list)
    forbidden_imports: list[str] = field(default_factory=list)
    output: str = ""
    info: str = ""
    duration: float = 0.0
    error: str = ""
    internal: bool = False

    @property
    def score(self) -> float:
        return sum(c.earned for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)


def load(path: str | os.PathLike[str]) -> tuple[Notebook, Assignment]:
    """Read a notebook and detect its assignment.

    Raises:
        NotebookError: not a readable notebook, or none of the course's assignments.
    """
    notebook = read_notebook(path)
    return notebook, detect_assignment(notebook)


def sandbox_for(
    notebook: Notebook,
    assignment: Assignment,
    *,
    timeout: float | None = None,
    exec_timeout: float | None = None,
    deny_read: Iterable[str | os.PathLike[str]] = (),
    allow_read: Iterable[str | os.PathLike[str]] = (),
    strict: bool = False,
    warm: bool = False,
) -> SandboxedLearner:
    """The sandbox the course's rules call for: NumPy-only assignments forbid torch, scipy.signal
    and scipy.ndimage; 05 preloads torch and gets more memory; nobody reads the oracles.

    Under bubblewrap (:mod:`autograder.isolation.policy`) the child sees only its allow-list;
    without it, ``deny_read`` and ``allow_read`` shape the fallback's guards.

    With ``warm``, the child is a fork of this process's warm template for its kind of sandbox
    (:mod:`autograder.isolation.warm`; bwrap only).

    Raises:
        IsolationUnavailable: ``strict`` (or ``CI=true``) and bwrap cannot run here.
    """
    mounts, notebook_dir = notebook_mounts(notebook.path, assignment) if use_bwrap(strict) else (None, None)
    limits = Limits(
        call_timeout=timeout or assignment.call_timeout or Limits.call_timeout,
        exec_timeout=exec_timeout or Limits.exec_timeout,
        memory_bytes=Limits.memory_bytes if assignment.numpy_only else TORCH_MEMORY,
        budget=max(Limits.budget, 2 * (exec_timeout or Limits.exec_timeout), assignment.budget or 0.0),
    )
    return SandboxedLearner(
        notebook,
        limits=limits,
        forbidden_modules=FORBIDDEN_IN_NUMPY_ASSIGNMENTS if assignment.numpy_only else (),
        forbidden_rule=numpy_only_rule(),
        preload=() if assignment.numpy_only else ("torch",),
        deny_read=[ORACLE_DATA_DIR, *deny_read],
        allow_read=allow_read,
        mounts=mounts,
        notebook_dir=notebook_dir,
        warm=shared_pool() if warm and mounts is not None else None,
        standins_in_child=assignment.id in STANDINS_IN_CHILD,
    )


def _check_id(item: Any) -> str | None:
    marker = item.get_closest_marker("check")
    return str(marker.kwargs["id"]) if marker is not None and "id" in marker.kwargs else None


def _describe_failure(exc: BaseException) -> tuple[str, str]:
    """(status, message) for an exception a check raised."""
    if isinstance(exc, CheckFailed):
        return "failed", str(exc)
    if type(exc).__name__ == "Skipped":
        return "skipped", str(getattr(exc, "msg", exc))
    if isinstance(exc, CourseSetupError):
        return "error", _("cannot grade this check on this machine: {problem}").format(problem=exc)
    return "error", _("internal error in this check ({type}: {problem}); please report it to the course staff.").format(type=type(exc).__name__, problem=exc)


class GradingPlugin:
    """The pytest plugin: the ``learner`` fixture, ``--only`` selection and the results.

    Args:
        learner: the learner the checks receive, or a function that makes one on first use.
        assignment: only this assignment's checks run.
        only: an fnmatch pattern on check ids (``"02.conv2d_*"``), or ``None`` for all.
        include_hidden: also run the instructor-only checks (official grading).
    """

    def __init__(self, learner: Any, assignment: Assignment, only: str | None = None, include_hidden: bool = False) -> None:
        self._learner = learner
        self.assignment = assignment
        self.only = only
        self.include_hidden = include_hidden
        self._outcomes: dict[str, tuple[str, str, float]] = {}
        self._check_ids: dict[str, str] = {}  # node id -> check id of the selected checks, in definition order
        self._errors: dict[str, tuple[str, str]] = {}

    def provide_learner(self) -> Any:
        if callable(self._learner) and not hasattr(self._learner, "call"):
            self._learner = self._learner()
        return self._learner

    def fixture_plugin(self) -> types.ModuleType:
        """A plugin holding the ``learner`` fixture; register it beside this one. (pytest is
        imported only now, so importing this module does not delay the sandbox's start.)"""
        import pytest

        def learner() -> Any:
            return self.provide_learner()

        holder = types.ModuleType("autograder_learner_fixture")
        holder.learner = pytest.fixture(scope="session")(learner)  # type: ignore[attr-defined]
        return holder

    def pytest_configure(self, config: Any) -> None:
        config.addinivalue_line("markers", CHECK_MARKER)

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        selected, deselected = [], []
        for item in items:
            check_id = _check_id(item)
            if check_id is None:
                selected.append(item)
                continue
            wanted = check_id.split(".", 1)[0] == self.assignment.number and (self.only is None or fnmatch.fnmatchcase(check_id, self.only))
            wanted = wanted and (self.include_hidden or not get_check(check_id).hidden)
            (selected if wanted else deselected).append(item)
            if wanted:
                self._check_ids[item.nodeid] = check_id
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected

    def pytest_exception_interact(self, node: Any, call: Any, report: Any) -> None:
        # called after pytest_runtest_logreport, with the exception itself
        if call.excinfo is not None:
            self._errors[node.nodeid] = _describe_failure(call.excinfo.value)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.nodeid not in self._check_ids:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if report.passed:
                outcome = ("passed", "")
            elif report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                outcome = ("skipped", reason.removeprefix("Skipped: "))
            else:
                outcome = ("error", _("the check failed without a message."))
            self._outcomes[report.nodeid] = (*outcome, report.duration)

    def check_results(self) -> list[CheckResult]:
        """Results in definition order; a selected check that never reported counts as an error."""
        results = []
        for nodeid, check_id in self._check_ids.items():
            check = get_check(check_id)
            status, message, duration = self._outcomes.get(nodeid, ("error", _("the check did not run."), 0.0))
            if status in ("error", "failed") and nodeid in self._errors:
                status, message = self._errors[nodeid]
            earned = check.points if status == "passed" else 0.0
            results.append(CheckResult(check.id, _(check.title), check.points, earned, status, message, duration, check.hidden))
        return results


def _pytest_args(assignment: Assignment) -> list[str]:
    module = checks_module(assignment)
    return [
        str(Path(module.__file__).resolve()),  # type: ignore[arg-type]
        "--rootdir", str(PACKAGE_DIR.parent),
        "-c", os.devnull,  # no ini file: the repository's pytest settings are for its own tests
        "-p", "no:cacheprovider",
        "-p", "no:terminal",
        "-p", "no:junitxml",
        "-p", "no:doctest",
        "-p", "no:pastebin",
        "-p", "no:legacypath",
        "-p", "no:unraisableexception",  # its gc.collect() at exit costs 0.2 s per notebook
        "-p", "no:threadexception",
        "--disable-plugin-autoload",
        "--noconftest",
        "--assert=plain",
        "--capture=no",
    ]


class _NoFailureReports:
    """Scores and messages come from the exceptions themselves (``pytest_exception_interact``),
    and with the terminal plugin off nobody reads pytest's failure reports; building them parses
    every traceback's source (0.1 s per failing check: 1 s for a blank notebook). ``--tb=no``
    belongs to the terminal plugin, so the option is set here."""

    def pytest_configure(self, config: Any) -> None:
        config.option.tbstyle = "no"


def run_checks(learner: Any, assignment: Assignment, *, only: str | None = None, include_hidden: bool = False) -> list[CheckResult]:
    """Run one assignment's checks (public ones, and hidden ones with ``include_hidden``)
    through pytest against ``learner``.

    Raises:
        GradingError: pytest itself could not run (not a failing check).
    """
    import pytest

    plugin = GradingPlugin(learner, assignment, only, include_hidden)
    code = pytest.main(_pytest_args(assignment), plugins=[plugin, plugin.fixture_plugin(), _NoFailureReports()])
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise GradingError(_("pytest could not run the checks of {assignment} (exit code {code}); this is the grader's fault, not your notebook's: report it to the course staff.").format(assignment=assignment.id, code=int(code)))
    return plugin.check_results()


def own_layers_report(assignment: Assignment, learner: Any) -> str:
    """The checks module's informational ``own_layers_report(learner)``, when it has one."""
    module = checks_module(assignment)
    report = getattr(module, "own_layers_report", None)
    if report is None:
        return ""
    try:
        return str(report(learner))
    except Exception as exc:  # noqa: BLE001 - informational only
        return _("(the own-layers report is unavailable: {type}: {problem})").format(type=type(exc).__name__, problem=exc)


def grade_notebook(
    path: str | os.PathLike[str],
    *,
    only: str | None = None,
    timeout: float | None = None,
    exec_timeout: float | None = None,
    deny_read: Sequence[str | os.PathLike[str]] = (),
    allow_read: Sequence[str | os.PathLike[str]] = (),
    include_hidden: bool = False,
    assignment_id: str | None = None,
    strict: bool = False,
    warm: bool = False,
) -> NotebookResult:
    """Grade one notebook in a sandbox.

    Args:
        path: the notebook (never modified).
        only: an fnmatch pattern on check ids, e.g. ``"02.conv2d_forward.*"``.
        timeout: seconds per call of a learner function.
        exec_timeout: seconds to execute the notebook's cells.
        deny_read, allow_read: extra directories the learner's code may not / may read
            (``--batch`` hides the other learners' submissions).
        include_hidden: also run the instructor-only checks (official grading).
        assignment_id: the assignment the notebook must be (``--assignment``; in ``--batch``
            its folder's name): a notebook whose metadata names another one is refused.
        strict: refuse to grade without bubblewrap (official grading).
        warm: fork the sandbox from a warm template instead of starting Python afresh.

    Raises:
        NotebookError: not a valid notebook of a course assignment, or not of ``assignment_id``.
        IsolationUnavailable: ``strict`` and bubblewrap cannot run here.
        GradingError: pytest could not run the checks.
    """
    started = time.perf_counter()
    notebook, assignment = load(path)
    if assignment_id is not None and assignment.id != assignment_id:
        raise NotebookError(_("{path} is a notebook of {found}, not of {wanted}; submit the {wanted} notebook there.").format(path=path, found=assignment.id, wanted=assignment_id))
    learner = sandbox_for(notebook, assignment, timeout=timeout, exec_timeout=exec_timeout, deny_read=deny_read, allow_read=allow_read, strict=strict, warm=warm)
    with learner:  # the child executes the cells while pytest starts
        checks = run_checks(learner, assignment, only=only, include_hidden=include_hidden)
        info = own_layers_report(assignment, learner) if checks else ""
        result = NotebookResult(
            path=Path(path),
            assignment=assignment.id,
            checks=checks,
            cell_errors=learner.cell_errors,
            forbidden_imports=learner.forbidden_imports,
            output=learner.output,
            info=info,
        )
    result.duration = time.perf_counter() - started
    return result


# -- plain pytest: `pytest -p autograder.engine --notebook PATH --pyargs autograder.checks.X` --


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("autograder", "course autograder")
    group.addoption("--notebook", default=None, help="grade this notebook: the checks' `learner` runs its code in a sandbox")
    group.addoption("--only", default=None, metavar="ID_GLOB", help="run only the checks whose id matches, e.g. '02.conv2d_*'")
    group.addoption("--check-timeout", type=float, default=None, metavar="S", help="seconds per call of a learner function")


def pytest_configure(config: Any) -> None:
    import pytest

    config.addinivalue_line("markers", CHECK_MARKER)
    path = config.getoption("--notebook", default=None)
    if not path:
        return
    try:
        notebook, assignment = load(path)
    except NotebookError as exc:
        raise pytest.UsageError(str(exc)) from None
    timeout = config.getoption("--check-timeout", default=None)
    plugin = GradingPlugin(lambda: sandbox_for(notebook, assignment, timeout=timeout).start(), assignment, config.getoption("--only", default=None))
    config.pluginmanager.register(plugin, "autograder-grading")
    config.pluginmanager.register(plugin.fixture_plugin(), "autograder-learner")
    config._autograder_plugin = plugin  # type: ignore[attr-defined]


def pytest_unconfigure(config: Any) -> None:
    plugin = getattr(config, "_autograder_plugin", None)
    learner = getattr(plugin, "_learner", None)
    if learner is not None and hasattr(learner, "close"):
        learner.close()


# -- many notebooks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One notebook to grade, with the directories its code may not / may read (fallback
    only), the assignment it must be (``None``: whatever its metadata says) and, when it is
    refused without grading, why."""

    path: Path
    deny_read: tuple[str, ...] = ()
    allow_read: tuple[str, ...] = ()
    assignment: str | None = None
    refused: str | None = None


def grade_submission(submission: Submission, options: dict[str, Any]) -> NotebookResult:
    """:func:`grade_notebook`, turning every failure into a result with ``error`` set, so one
    broken file never stops a folder or a batch."""
    started = time.perf_counter()
    if submission.refused:
        return NotebookResult(path=submission.path, assignment=submission.assignment or "", error=submission.refused)
    options = dict(options)
    if submission.assignment is not None:
        options["assignment_id"] = submission.assignment
    try:
        return grade_notebook(submission.path, deny_read=submission.deny_read, allow_read=submission.allow_read, **options)
    except (NotebookError, IsolationUnavailable) as exc:
        return NotebookResult(path=submission.path, assignment="", error=str(exc), duration=time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - the grader's own failure, reported per notebook
        message = _("the grader failed on {path}: {type}: {problem}").format(path=submission.path, type=type(exc).__name__, problem=exc)
        return NotebookResult(path=submission.path, assignment="", error=message, internal=True, duration=time.perf_counter() - started)


def grade_many(
    submissions: Sequence[Submission],
    *,
    jobs: int = 1,
    on_done: Callable[[NotebookResult], None] | None = None,
    **options: Any,
) -> list[NotebookResult]:
    """Grade notebooks one after another, or in ``jobs`` worker processes; results keep the
    submissions' order.

    Args:
        options: passed on to :func:`grade_notebook` (``only``, ``timeout``, ``exec_timeout``,
            ``include_hidden``).
    """
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    results: list[NotebookResult | None] = [None] * len(submissions)
    if jobs == 1 or len(submissions) < 2:
        for index, submission in enumerate(submissions):
            results[index] = grade_submission(submission, options)
            if on_done:
                on_done(results[index])  # type: ignore[arg-type]
        return results  # type: ignore[return-value]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=min(jobs, len(submissions)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(grade_submission, s, options): i for i, s in enumerate(submissions)}
        for future in as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker process died
                results[index] = NotebookResult(path=submissions[index].path, assignment="", error=_("the grader failed: {type}: {problem}").format(type=type(exc).__name__, problem=exc), internal=True)
            if on_done:
                on_done(results[index])  # type: ignore[arg-type]
    return results  # type: ignore[return-value]


def find_notebooks(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[str], list[str]]:
    """The notebooks named by files and folders (folders are searched recursively).

    In a folder, a notebook that belongs to no assignment is skipped (a scratch notebook next
    to the exercises), unless it carries an assignment's file name.

    Returns:
        (notebooks, errors: one line per path that is missing or holds no course notebook,
        notes: one line per skipped file).
    """
    names = {a.notebook for a in ASSIGNMENTS}
    notebooks: list[Path] = []
    errors: list[str] = []
    notes: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            notebooks.append(path)
            continue
        if not path.is_dir():
            errors.append(_("{path} does not exist; check the path.").format(path=path))
            continue
        found = []
        for candidate in sorted(path.rglob("*.ipynb")):
            if any(part.startswith(".") for part in candidate.relative_to(path).parts):
                continue  # .ipynb_checkpoints and other hidden folders
            if candidate.name not in names:
                try:
                    load(candidate)
                except NotebookError:
                    notes.append(_("skipped {path}: not a notebook of a course assignment").format(path=candidate))
                    continue
            found.append(candidate)
        if not found:
            errors.append(_("{path} holds no course notebook; pass your notebook or a folder such as exercises/.").format(path=path))
        notebooks += found
    return notebooks, errors, notes
