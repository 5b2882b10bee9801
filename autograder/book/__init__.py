"""Helper code for the book's chapters (data, plots, tables), one module per chapter, so the
pages show the lesson and not the plumbing."""
