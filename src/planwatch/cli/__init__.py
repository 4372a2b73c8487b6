"""The ``planwatch`` command line. ``main`` holds the app and the core verbs; each other module
adds the verbs of one capability to the same app."""

from planwatch.cli import indicators, layers, review  # noqa: F401  (registers their verbs)
from planwatch.cli.main import app, main

__all__ = ["app", "main"]
