# nbgrader configuration for the course. nbgrader reads it from the working directory only, so
# run nbgrader commands from the repository root (`make exercises` loads this file by path).
#
# Layout: solutions/<assignment>/ is nbgrader's source; submitted/, autograded/ and feedback/
# (gitignored) are nbgrader's defaults. The learners' exercises/ is written only by
# `python -m autograder.release` (`make exercises`), which never overwrites a learner's work; a
# raw `nbgrader generate_assignment` writes into the gitignored release/ instead.
import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "release"
# Gitignored. `python -m autograder.release` (`make exercises`) uses a throwaway one, so
# regenerating exercises never touches the grades; its --gradebook flag records here instead.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
c.CourseDirectory.course_id = "cnn-course"

# The assignments are the folders of solutions/ (01-convolution ... 05-architectures, listed in
# autograder/assignments.py); nbgrader 0.9 adds each to the gradebook when it generates it.
# Record them with `python -m autograder.release --gradebook` (or a raw generate_assignment into
# release/) before `nbgrader autograde`, which otherwise fails with MissingEntry.
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
c.Execute.timeout = 720  # 06-training's accuracy-gate cell trains for up to its own 600 s limit

# Learner code runs in the course's bubblewrap sandbox, as in `python -m autograder`: the kernel
# `cnn-course-sandbox` (autograder/isolation/kernel.py) talks to nbgrader over IPC sockets in a
# private runtime folder, the only host folder it may write to.
import tempfile  # noqa: E402

os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [os.path.join(ROOT, "autograder", "isolation", "jupyter"), os.environ.get("JUPYTER_PATH")]))
_runtime = tempfile.mkdtemp(prefix="cnn-course-kernels-")
c.Execute.kernel_name = "cnn-course-sandbox"
c.KernelManager.transport = "ipc"
c.KernelManager.ip = os.path.join(_runtime, "kernel-ipc")
