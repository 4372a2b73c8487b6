"""One function per capability: what the CLI verbs (and later the web API) call, so that neither holds
logic of its own. Modules by capability: ``plans``, ``observations``, ``evaluation``, ``reports``,
``layers``, ``review``, ``indicators``.

Each function takes plain arguments (a store, a plan, paths, options and, where the work is slow, a
``progress(message)`` callback) and returns a frozen dataclass of plain data (DataFrames, dicts)
whose ``to_records()`` is the JSON the CLI prints with ``--format json``. A refusal in the user's
terms is a :class:`ServiceError` whose message is the text to show (a :class:`Forbidden` when it is the
account's scope that refuses). A write done for an account takes it as ``user`` (and the request's
``address``): the service checks the account's role and scope itself and has the store write the audit
row in the write's own transaction; ``user`` None is the local operator at the command line, who may
do anything, unaudited as before.

This package imports no heavy library at import time: each function imports the domain modules it
calls, so ``planwatch --help`` stays fast."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from planwatch.store import Store

Progress: TypeAlias = Callable[[str], None]
# A store, or a function that opens it: a service calls it only once its arguments have passed their
# checks, so a refused call never creates a store (or migrates one). The CLI passes its opener.
StoreSource: TypeAlias = "Store | Callable[[], Store]"

MAX_ECHO = 80  # characters of a user's value quoted back in a message
EXIT_REFUSED = 1  # the exit code of a refusal
EXIT_USAGE = 2  # the exit code of a usage mistake (click's own)


class ServiceError(ValueError):
    """A refusal in the user's terms: ``str(e)`` is the message to show, and nothing was written.
    ``usage``: the mistake is in how the call was put together (the CLI exits with code 2, not 1)."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage

    @property
    def exit_code(self) -> int:
        return EXIT_USAGE if self.usage else EXIT_REFUSED


class Forbidden(ServiceError):
    """A refusal of scope: the account may not do this, or not there (another district's rows, another
    unit's finding, an admin's action); nothing was written. The web API answers it with 403."""


def opened(store: StoreSource) -> Store:
    """``store`` itself, or the store its opener opens."""
    return store() if callable(store) else store


def store_label(store) -> str:
    """How a message names the store: its file, or its DSN."""
    return str(getattr(store, "path", None) or getattr(store, "dsn", None) or "")


def shorten(text: str, limit: int = MAX_ECHO * 4) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}…（共{len(text)}个字符）"


def jsonable(x):
    """JSON-able: NaN/inf → null, numpy scalars → Python; dicts, lists and tuples recursively."""
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, str):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def frame_records(df) -> list[dict]:
    """A DataFrame as JSON-able records, one per row."""
    return jsonable(df.to_dict("records"))


def scheduler_for(engine: str, scheduler: str | None) -> str | None:
    """The cluster a Dask engine runs on (see :mod:`planwatch.cluster`; None: Dask's threads, or
    another engine, which takes no ``--scheduler``); a usage mistake refused otherwise."""
    if engine != "dask":
        if scheduler is not None:
            raise ServiceError(f"--scheduler {scheduler}: a scheduler runs the dask engine; add --engine dask", usage=True)
        return None
    from planwatch.cluster import SchedulerError, scheduler_from

    try:
        return scheduler_from(scheduler)
    except SchedulerError as e:
        raise ServiceError(str(e), usage=True) from None


__all__ = [
    "EXIT_REFUSED", "EXIT_USAGE", "Forbidden", "MAX_ECHO", "Progress", "ServiceError", "StoreSource", "frame_records", "jsonable",
    "opened", "scheduler_for", "shorten", "store_label",
]
