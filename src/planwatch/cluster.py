"""Where the Dask engines run: ``--scheduler`` (or ``$PLANWATCH_DASK_SCHEDULER``).

- none: Dask's threads scheduler in this process (the default);
- ``local:N``: a ``dask.distributed`` ``LocalCluster`` of N worker processes on this machine, started
  for the run and closed after it;
- ``tcp://HOST:PORT`` (or ``tls://…``): an existing ``dask.distributed`` scheduler.

Needs the ``scale`` extra (dask-geopandas and distributed) for a cluster."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "PLANWATCH_DASK_SCHEDULER"
_LOCAL = re.compile(r"^local:(\d{1,3})$")
_REMOTE = re.compile(r"^(tcp|tls)://[^\s/]+:\d{1,5}$")


class SchedulerError(ValueError):
    """A ``--scheduler`` that is not ``local:N`` nor a scheduler's address, or one that cannot be reached."""


class ClusterError(RuntimeError):
    """The cluster failed during a run (a task's workers died too often, the scheduler went away)."""


def scheduler_from(option: str | None) -> str | None:
    """The scheduler asked for: ``option``, else ``$PLANWATCH_DASK_SCHEDULER``, else None (threads);
    checked, so a typo is refused before any work starts."""
    text = (option if option is not None else os.environ.get(ENV, "")).strip()
    if not text or text == "threads":
        return None
    m = _LOCAL.match(text)
    if m:
        if not 1 <= int(m.group(1)) <= 256:
            raise SchedulerError(f"--scheduler {text}: N must be 1 to 256 worker processes")
        return text
    if _REMOTE.match(text):
        return text
    raise SchedulerError(f"--scheduler {text!r}: give local:N (N worker processes on this machine) or a dask "
                         "scheduler's address, tcp://HOST:PORT")


@contextmanager
def client(scheduler: str | None) -> Iterator[object | None]:
    """A ``distributed.Client`` for ``scheduler`` (see :func:`scheduler_from`), closed afterwards with
    the ``LocalCluster`` it started, if any; None for the threads scheduler. A ``Client`` given
    instead of a name is used as it is and left open."""
    if scheduler is None:
        yield None
        return
    if not isinstance(scheduler, str):  # an open distributed.Client
        yield scheduler
        return
    from planwatch.extras import require

    require("scale", f"--scheduler {scheduler}")
    from distributed import Client, LocalCluster

    m = _LOCAL.match(scheduler)
    if m:
        with LocalCluster(n_workers=int(m.group(1)), threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=40) as cluster, Client(cluster) as c:
            yield c
        return
    try:
        c = Client(scheduler, timeout="10s")
    except OSError as e:
        raise SchedulerError(f"--scheduler {scheduler}: no dask scheduler answers there ({e})") from None
    try:
        yield c
    finally:
        c.close()


__all__ = ["ENV", "ClusterError", "SchedulerError", "client", "scheduler_from"]
