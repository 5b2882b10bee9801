"""The base of errors about the course's own set-up (data, weights, oracle fixtures).

They are not the learner's fault: the grader reports them as "cannot grade this check here"
with the one-line fix, never as a failed check or an internal error.
"""


class CourseSetupError(Exception):
    """Something the course needs on this machine is missing or damaged."""
