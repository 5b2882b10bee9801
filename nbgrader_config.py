# nbgrader configuration for the course. nbgrader reads it from the working directory only, so
# run nbgrader from the repository root (as `make exercises` and the instructor workflow do).
#
# Layout: solutions/<assignment>/ is nbgrader's source, exercises/<assignment>/ its release;
# submitted/, autograded/ and feedback/ (gitignored) are nbgrader's defaults.
import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
# Gitignored; `python -m autograder.release` uses a throwaway database instead, so regenerating
# exercises never touches the instructor's grades.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
c.CourseDirectory.course_id = "cnn-course"

# The assignments are the folders of solutions/ (01-convolution ... 05-architectures, listed in
# autograder/assignments.py); nbgrader 0.9 adds each to the gradebook when it generates it.

# Seconds per cell when autograding; 05's training cells are the slowest.
c.Execute.timeout = 120
