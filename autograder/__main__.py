"""``python -m autograder``: see :mod:`autograder.cli`."""

from autograder.cli import main

raise SystemExit(main())
