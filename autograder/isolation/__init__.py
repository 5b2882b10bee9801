"""Isolation of learner code: the trusted stand-ins a check swaps in for learner helpers
(:mod:`~autograder.isolation.standins`), the bubblewrap boundary
(:mod:`~autograder.isolation.bwrap`), the course's rules for it
(:mod:`~autograder.isolation.policy`), and warm workers: a pre-imported template per kind of
sandbox that forks per notebook (:mod:`~autograder.isolation.warm`, which runs
:mod:`~autograder.isolation.template` inside the sandbox)."""
