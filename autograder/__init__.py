"""The course's one Python package: data, reference models, checks, sandbox and command line.

Modules (one job each):
    paths        where the repository, solutions, oracle fixtures and data live
    assignments  the table of the five assignments
    errors       the base of course set-up errors (missing data, weights, fixtures)
    data         MNIST loading and download
    reference    PyTorch reference models, training, weights and manifest
    registry     the check registry (ids, titles, points) and ``CheckFailed``
    learner      how a check calls the learner's functions (in-process or sandboxed)
    compare      array comparisons that produce teaching messages
    oracles      PyTorch's answers to the checks' cases, stored as fixtures
    checks       one module of checks per assignment, and ``grade`` for nbgrader cells
    selfcheck    the learners' quick self-check cells
    notebook     read notebooks, pull out learner code, import functions from notebooks
    codec        the pickle-free wire format between grader and sandbox
    sandbox      run untrusted code in a child process with limits (``_sandbox_worker``)
    isolation    bubblewrap (the boundary), the course's rules for it, trusted stand-ins, warm workers
    engine       run checks through pytest
    batch        grade a folder of submissions
    report       terminal, JSON (Gradescope), JUnit and CSV reports
    release      generate ``exercises/`` from ``solutions/`` with nbgrader
    site_assets  offline copies of the book's JavaScript
    watch        regrade a notebook on every save (``--watch``)
    cli          the command line (``python -m autograder``)
"""

__version__ = "0.1.0"
