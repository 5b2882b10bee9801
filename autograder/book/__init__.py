"""Helpers for the book's chapters (book/*.md): schematic figures, tables, small experiments and
set-up, one module per concern, kept out of the pages so that a reader sees the lesson first. Not
part of the grader; the student release leaves this subpackage out."""

from autograder.book.fonts import use_language_font

use_language_font()
