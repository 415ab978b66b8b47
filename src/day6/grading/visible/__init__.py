"""The visible checks: shipped to students, run by ``day6 check``, and graded again by ``day6 grade``.

One module per exercise (``ex01`` ... ``ex05``), each exposing ``CHECKS``. Their expected
observations live apart, in :mod:`day6.grading.visible.expected`, so the copy of a check module
that goes into a sandbox carries scenarios only, never answers.
"""
