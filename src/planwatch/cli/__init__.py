"""The ``planwatch`` command line. ``common`` holds the app and what every verb shares, ``main`` the
core verbs; each other module adds the verbs of one capability to the same app."""
# ruff: noqa: I001  (main first: the core verbs register first, the order `planwatch --help` lists them in)

from planwatch.cli.common import app
from planwatch.cli.main import main
from planwatch.cli import db, findings, indicators, layers, ledger, review, serve, users  # noqa: F401  (registers their verbs)

__all__ = ["app", "main"]
