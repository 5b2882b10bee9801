"""The course's one Python package: data, reference models, checks, sandbox and command line.

Modules (one job each):
    paths        where the repository, solutions, fixtures and data live
    assignments  the table of the five assignments
    data         MNIST loading and download
    reference    PyTorch reference models, training, weights and manifest
    registry     the check registry (ids, titles, points) and ``CheckFailed``
    learner      how a check calls the learner's functions (in-process or sandboxed)
    compare      array comparisons that produce teaching messages
    checks       one module of checks per assignment
    notebook     read notebooks, pull out learner code, import functions from notebooks
    sandbox      run untrusted code in a child process with limits
    engine       run checks through pytest
    report       terminal, JSON (Gradescope), JUnit and CSV reports
    cli          the command line (``python -m autograder``)
"""

__version__ = "0.1.0"
