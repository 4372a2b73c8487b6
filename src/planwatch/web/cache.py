"""Results the server computes once per state of the store's data and keeps (the check-up of a year,
the spatial indicators by district): the key says which state, so a new import or a new layer
version is computed again."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock


def data_state(store) -> tuple:
    """The state of the store's observations and judgements: what a check-up depends on."""
    imports, judged = store.imports(), store.judgements()
    return len(imports), int(imports["import_id"].max()) if len(imports) else 0, len(judged)


def layers_state(store) -> tuple:
    """The current version of every layer: what the spatial indicators depend on."""
    rows = store.layers()
    return tuple(sorted(zip(rows["layer_type"], rows["version"].astype(int), strict=True)))


class Recent:
    """The last ``size`` results by key, the oldest dropped first."""

    def __init__(self, size: int = 8):
        self.size = size
        self.kept: OrderedDict[Hashable, object] = OrderedDict()
        self.lock = Lock()

    def get(self, key: Hashable, compute: Callable[[], object]):
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
        value = compute()
        with self.lock:
            self.kept[key] = value
            while len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return value


__all__ = ["Recent", "data_state", "layers_state"]
