"""Isolation of learner code: the trusted stand-ins a check swaps in for learner helpers
(:mod:`~autograder.isolation.standins`)."""
