"""The command line: ``python -m autograder [PATH ...]`` (``make grade``).

Parses arguments and hands off to :mod:`autograder.engine` (grading), :mod:`autograder.batch`
(a class's submissions) and :mod:`autograder.report` (terminal, JSON, JUnit, CSV).

Exit codes: 0 grading ran (whatever the score); 1 ``--fail-under`` was not reached; 2 a usage
or input error (a missing path, an invalid notebook, a notebook of no assignment); 3 the grader
itself failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from autograder.i18n import LANG_ENV_VAR, LANGUAGES, _, set_language

EXIT_OK, EXIT_BELOW, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
WARM_BY_DEFAULT = True  # --batch and --jobs N fork warm templates (bubblewrap only); --cold opts out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, as for every input error
        self.exit(EXIT_INPUT, _("{prog}: {message} (see --help)").format(prog=self.prog, message=message) + "\n")


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(_("{text} is not a number").format(text=repr(text))) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(_("{text} must be positive").format(text=repr(text)))
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m autograder",
        description=_("Grade course notebooks: each runs in a sandbox and the checks run through pytest."),
        epilog=_("Exit codes: 0 graded, 1 below --fail-under, 2 usage or input error, 3 the grader failed."),
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help=_("notebooks or folders (default: exercises/)"))
    parser.add_argument("--only", metavar="ID_GLOB", help=_("run only the checks whose id matches, e.g. '02.conv2d_forward.*'"))
    parser.add_argument("--timeout", type=_positive(float), metavar="S", help=_("seconds per call of your function (default 10)"))
    parser.add_argument("--notebook-timeout", type=_positive(float), metavar="S", help=_("seconds to run the notebook's cells (default 60)"))
    parser.add_argument("--jobs", "-j", type=_positive(int), default=1, metavar="N", help=_("grade N notebooks at once"))
    parser.add_argument("--json", metavar="FILE", help=_("write Gradescope's results.json"))
    parser.add_argument("--junit", metavar="FILE", help=_("write JUnit XML (one testcase per check) for CI"))
    parser.add_argument("--batch", metavar="DIR", help=_("grade DIR/<learner>/<assignment>/*.ipynb into one CSV"))
    parser.add_argument("--csv", metavar="FILE", help=_("with --batch: where the CSV goes (default FOLDER/grades.csv of --out; '-' for stdout)"))
    parser.add_argument("--assignment", metavar="ID", help=_("the assignment the notebook must be, e.g. 02-padding-stride (refused otherwise)"))
    parser.add_argument("--strict", action="store_true", help=_("refuse to grade without the bubblewrap sandbox (always so with --batch or CI=true)"))
    parser.add_argument("--watch", metavar="NOTEBOOK", help=_("regrade NOTEBOOK every time it is saved, printing what changed (Ctrl-C stops)"))
    parser.add_argument("--cold", action="store_true", help=_("start a fresh sandboxed Python per notebook instead of forking a warm one"))
    parser.add_argument("--fail-under", type=float, metavar="P", help=_("exit 1 when the total is below P percent"))
    classroom = parser.add_argument_group(_("classes"), _("official grading and a class's submissions (see autograder.classroom)"))
    classroom.add_argument("--official", action="store_true", help=_("grade public + hidden checks (the default with --batch, --strict or CI=true)"))
    classroom.add_argument("--local", action="store_true", help=_("grade the public checks only, as a learner's `make grade` does"))
    classroom.add_argument("--out", metavar="FOLDER", help=_("with --batch: per-learner results.json and feedback, and grades.csv (default grades/)"))
    classroom.add_argument("--roster", metavar="FILE", help=_("with --batch: learner ids (one a line, or a CSV column); missing ones get 'no submission' rows"))
    classroom.add_argument("--show-hidden", action="store_true", help=_("with --batch: the feedback files include the hidden checks"))
    classroom.add_argument("--prairielearn", metavar="FILE", help=_("write PrairieLearn's results.json"))
    parser.add_argument("--lang", metavar="LANG", help=_("the language of messages and reports: {choices} (default: $CNN_COURSE_LANG, then $LC_ALL, $LC_MESSAGES, $LANG)").format(choices=", ".join(LANGUAGES)))
    parser.add_argument("--quiet", "-q", action="store_true", help=_("one line per notebook, no progress bar"))
    parser.add_argument("--verbose", "-v", action="store_true", help=_("also show what each notebook printed"))
    return parser


def choose_language(argv: Sequence[str] | None) -> str | None:
    """Apply ``--lang`` before the parser is built (its help texts are translated); the error
    line when the language is not one of the course's, else ``None``."""
    early = _Parser(prog="python -m autograder", add_help=False)
    early.add_argument("--lang")
    value = early.parse_known_args(argv)[0].lang
    if value is None:
        return None
    try:
        os.environ[LANG_ENV_VAR] = set_language(value)  # and for the processes --jobs starts
    except ValueError:
        return _("python -m autograder: --lang {value} is not a language of the course; use one of {choices}").format(value=repr(value), choices=", ".join(LANGUAGES))
    return None


def main(argv: Sequence[str] | None = None) -> int:
    problem = choose_language(argv)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_INPUT
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch and args.paths:
        parser.error(_("give either PATHs or --batch DIR, not both"))
    for option in ("csv", "out", "roster", "show_hidden"):
        if getattr(args, option) and not args.batch:
            parser.error(_("--{option} goes with --batch").format(option=option.replace("_", "-")))
    if args.official and args.local:
        parser.error(_("give either --official or --local, not both"))
    if args.watch and (args.batch or args.paths):
        parser.error(_("--watch takes one notebook; give no other PATH or --batch"))
    if args.assignment and args.batch:
        parser.error(_("--assignment is for single notebooks; in --batch each folder's name decides"))
    try:
        return _run(args)
    except KeyboardInterrupt:
        print(_("interrupted"), file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from autograder import batch, engine, report  # after parsing, so --help stays instant
    from autograder.assignments import get_assignment
    from autograder.classroom import classbatch, official, prairielearn

    from autograder.isolation.policy import IsolationUnavailable, use_bwrap

    started = time.perf_counter()
    strict = bool(args.strict or args.batch)
    try:
        use_bwrap(strict)  # refuse (or warn) once, before any grading
    except IsolationUnavailable as exc:
        print(exc, file=sys.stderr)
        return EXIT_INPUT
    if args.assignment:
        try:
            args.assignment = get_assignment(args.assignment).id
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return EXIT_INPUT
    include_hidden = official.is_official(official=args.official, local=args.local, batch=bool(args.batch), strict=strict)
    options = {"only": args.only, "timeout": args.timeout, "exec_timeout": args.notebook_timeout, "strict": strict, "include_hidden": include_hidden}
    if args.watch:
        from autograder.watch import watch

        return watch(args.watch, dict(options, assignment_id=args.assignment))
    options["warm"] = WARM_BY_DEFAULT and not args.cold and bool(args.batch or args.jobs > 1)
    errors: list[str] = []
    written = True  # every report file could be written (each failure is one line on stderr)
    if args.batch:
        try:
            found = batch.discover(args.batch)
            roster = classbatch.read_roster(args.roster) if args.roster else None
        except (batch.BatchError, classbatch.RosterError) as exc:
            print(exc, file=sys.stderr)
            return EXIT_INPUT
        with report.progress(len(found), enabled=not args.quiet) as advance:
            rows = batch.grade_batch(found, jobs=args.jobs, on_done=lambda r: advance(str(r.path)), **options)
        rows = classbatch.finish(rows, roster, include_hidden=include_hidden, only=args.only)
        results = [r for _, r in rows]
        out = Path(args.out or "grades")
        out.mkdir(parents=True, exist_ok=True)
        written = report.write_csv(rows, args.csv or out / "grades.csv")
        classbatch.write_learner_files(rows, out, show_hidden=args.show_hidden)
        if args.csv != "-":
            classbatch.print_summary(rows)
    else:
        if not args.paths and not os.path.isdir("exercises"):
            print(_("exercises/ does not exist here: pass the path of your notebook or its folder, or run this from your clone of the course repository."), file=sys.stderr)
            return EXIT_INPUT
        notebooks, errors, notes = engine.find_notebooks(args.paths or ["exercises"])
        for line in notes:
            print(line, file=sys.stderr)
        with report.progress(len(notebooks), enabled=not args.quiet) as advance:
            submissions = [engine.Submission(path, assignment=args.assignment) for path in notebooks]
            results = engine.grade_many(submissions, jobs=args.jobs, on_done=lambda r: advance(str(r.path)), **options)
        report.print_report(results, quiet=args.quiet, verbose=args.verbose)
        errors += [r.error for r in results if r.error]
    for line in errors:
        print(report.clean(line, chars=1000, lines=1), file=sys.stderr)
    elapsed = time.perf_counter() - started
    if args.json:
        written = report.write_json(results, args.json, elapsed) and written
    if args.junit:
        written = report.write_junit(results, args.junit) and written
    if args.prairielearn:
        written = prairielearn.write(results, args.prairielearn) and written
    if any(r.internal for r in results):
        return EXIT_INTERNAL
    if errors or not written:
        return EXIT_INPUT
    if args.only and results and not any(r.checks for r in results if not r.error):
        print(_("no check id matches --only {pattern}").format(pattern=repr(args.only)), file=sys.stderr)
        return EXIT_INPUT
    if args.fail_under is not None and (percent := report.total_percent(results)) < args.fail_under:
        print(_("total {percent}% is below --fail-under {limit}%").format(percent=f"{percent:.1f}", limit=f"{args.fail_under:g}"), file=sys.stderr)
        return EXIT_BELOW
    return EXIT_OK
