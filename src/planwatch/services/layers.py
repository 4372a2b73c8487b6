"""The one map (一张图): the layers in the store, importing one, loading the demo one map."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from planwatch.services import Progress, ServiceError, frame_records, jsonable, store_label

if TYPE_CHECKING:
    import pandas as pd

    from planwatch.onemap.layers import ImportReport
    from planwatch.plan import Plan
    from planwatch.store import Store


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


@dataclass(frozen=True)
class LayerList:
    """The stored layers in the plan's order, with the plan's name of each (``frame``: the store's
    registry columns and ``name``), the plan's layer types not loaded yet (``missing``: "id (name)")
    and the label of synthetic data."""

    frame: pd.DataFrame
    missing: list[str]
    synthetic_label: str

    def to_records(self) -> dict:
        return {"layers": frame_records(self.frame), "missing": list(self.missing), "synthetic_label": self.synthetic_label}


def list_layers(store: Store, plan: Plan) -> LayerList:
    """The layers in the store (``layers list``)."""
    from planwatch.store import SYNTHETIC_LABEL

    df = store.layers()
    order = [lt.id for lt in plan.spatial.layer_types] if plan.spatial else []
    names = {lt.id: lt.name for lt in plan.spatial.layer_types} if plan.spatial else {}
    df.insert(1, "name", [names.get(t, "") for t in df["layer_type"]])
    df = df.assign(_o=[order.index(t) if t in order else len(order) for t in df["layer_type"]]).sort_values(["_o", "layer_type"])
    df = df.drop(columns="_o").reset_index(drop=True)
    missing = [f"{t} ({names[t]})" for t in order if t not in set(df["layer_type"])]
    return LayerList(df, missing, SYNTHETIC_LABEL)


@dataclass(frozen=True)
class LayerImport:
    """What importing a layer did (:class:`planwatch.onemap.layers.ImportReport`): the file, the
    features, the CRS in and stored, the version, the repairs and notes."""

    report: ImportReport

    def to_records(self) -> dict:
        return jsonable(self.report.to_dict())


def import_layer(store: Store, plan: Plan, file: str, layer_type: str, *, crs: str | None = None, synthetic: bool = False,
                 encoding: str | None = None, fields: Sequence[str] | None = None,
                 progress: Progress | None = None) -> LayerImport:
    """Import a layer file as ``layer_type`` (the plan's id or name), all or nothing (``layers import``)."""
    from planwatch.onemap.layers import LayerImportError
    from planwatch.onemap.layers import import_layer as run_import

    try:
        _say(progress, f"importing {file} as {layer_type}…")
        report = run_import(file, layer_type, store, plan, crs=crs, synthetic=synthetic, encoding=encoding, fields=fields)
    except LayerImportError as e:
        raise ServiceError(str(e)) from None
    return LayerImport(report)


def demo_steps() -> int:
    """How many ``progress`` messages :func:`load_demo` sends: one per layer, and one more."""
    from planwatch.demo.onemap import BASE_LAYER_TYPES, DEMO_LAYER_TYPES

    return len(BASE_LAYER_TYPES) + len(DEMO_LAYER_TYPES) + 1


@dataclass(frozen=True)
class DemoLayers:
    """The layers the demo loaded: registry rows (layer_type, features, version, synthetic, …)."""

    rows: list[dict]
    store: str

    def to_records(self) -> list[dict]:
        return jsonable(self.rows)


def load_demo(store: Store, plan: Plan, *, seed: int = 2021, progress: Progress | None = None) -> DemoLayers:
    """Load the real base layers (districts, rail stations, 圈层) and the synthetic demo one map
    (every other layer type, labelled 示意数据（非官方）) into ``store`` (``layers demo``)."""
    from planwatch.demo.onemap import load_demo_map
    from planwatch.onemap.layers import LayerImportError

    try:
        rows = load_demo_map(store, plan, seed=seed, progress=progress)
    except LayerImportError as e:  # pragma: no cover - the shipped data is checked by the tests
        raise ServiceError(str(e)) from None
    return DemoLayers(rows, store_label(store))


def migrate_storage_crs(store: Store, plan: Plan, *, progress: Progress | None = None) -> list[dict]:
    """Move every stored layer kept in another CRS than the plan's storage CRS into it (a store
    written before the package changed it); the new registry rows (empty when none moved)."""
    from planwatch.onemap.layers import migrate_storage_crs as migrate

    return migrate(store, plan, progress=progress)


__all__ = ["DemoLayers", "LayerImport", "LayerList", "demo_steps", "import_layer", "list_layers", "load_demo",
           "migrate_storage_crs"]
