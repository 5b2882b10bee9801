"""Helper code of the book's chapters (tables, figures, small experiments), one module per chapter,
so that a page shows the lesson first and the plumbing lives here."""
