"""Isolation of learner code: the trusted stand-ins a check swaps in for learner helpers
(:mod:`~autograder.isolation.standins`), the bubblewrap boundary
(:mod:`~autograder.isolation.bwrap`) and the course's rules for it
(:mod:`~autograder.isolation.policy`)."""
