"""Running the course for a graded class: official grading (public + hidden checks), the
learners' release without solutions, the Gradescope and PrairieLearn autograders, and the
per-learner feedback and roster of a batch.

Modules: ``official`` (which runs count hidden checks), ``feedback`` (a learner's Markdown and
HTML feedback), ``classbatch`` (``--batch --out`` folders, rosters, tampered test cells),
``prairielearn`` (its ``results.json``), ``gradescope`` (the autograder zip and its
``run_autograder``), ``student_release`` (``make student-release``), ``consistency`` (the
registry and the solutions' test cells agree). ``release_files/`` holds the learner README and
Gradescope's two scripts.
"""
