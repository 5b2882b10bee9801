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

# Seconds per cell when autograding or validating (nbgrader's default is 30): 05's checks run
# the reference models, which takes tens of seconds on a busy 2-core grading machine.
c.Execute.timeout = 720  # 06-training's accuracy-gate cell trains for up to its own 600 s limit
