# nbgrader configuration for the course. nbgrader reads it from the working directory only, so
# run nbgrader commands from the repository root (`make exercises` loads this file by path).
#
# Layout: solutions/<assignment>/ is nbgrader's source, exercises/<assignment>/ its release;
# submitted/, autograded/ and feedback/ (gitignored) are nbgrader's defaults.
import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# Gitignored. `python -m autograder.release` (`make exercises`) uses a throwaway one, so
# regenerating exercises never touches the grades; its --gradebook flag records here instead.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
c.CourseDirectory.course_id = "cnn-course"

# The assignments are the folders of solutions/ (01-convolution ... 05-architectures, listed in
# autograder/assignments.py); nbgrader 0.9 adds each to the gradebook when it generates it.
# Record them with `python -m autograder.release --gradebook`: plain `nbgrader generate_assignment`
# skips an existing exercises/ folder without recording anything, and `autograde` then fails
# with MissingEntry.
#
# Hidden checks: the locked test cells of solutions/ hold them between `### BEGIN HIDDEN TESTS`
# and `### END HIDDEN TESTS`; generate_assignment strips them from exercises/ and autograde puts
# them back, so nbgrader's totals are the official ones (public + hidden).
#
# Due dates live in the gradebook, one command per assignment:
#   nbgrader db assignment add 02-padding-stride --duedate="2026-03-01 17:00:00 UTC"
# Late penalties (nbgrader's built-in plugin: "none", the default, or "zero" for a late notebook):
# c.LateSubmissionPlugin.penalty_method = "zero"
#
# The exchange (JupyterHub: release_assignment, fetch, submit, collect, release_feedback) needs a
# folder every user can write, created once by an administrator (mkdir -m 777):
# c.Exchange.root = "/srv/nbgrader/exchange"

# Seconds per cell when autograding or validating (nbgrader's default is 30): 05's checks run
# the reference models, which takes tens of seconds on a busy 2-core grading machine.
c.Execute.timeout = 120
