"""A whole store copied into another, of either backend, and two stores compared.

``copy_store`` reads the source's :class:`~planwatch.store.base.StoreSnapshot` (every record table
of :data:`~planwatch.store.base.RECORD_TABLES`, the layer registry, the features, the QGIS styles)
and restores it into an empty destination in one transaction. ``diff_stores`` compares two
snapshots and says every difference in a line; none means the stores hold the same data.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from planwatch.store.base import REGISTRY_COLUMNS, STYLE_COLUMNS, Store, StoreSnapshot, layer_content_hash

MAX_SHOWN = 20  # differing rows named per table; the rest are counted


def copy_store(src: Store, dst: Store, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Copy everything ``src`` holds into the empty store ``dst``; returns the rows copied per record
    table and the number of layers. :class:`~planwatch.store.base.StoreError` (nothing written) when
    ``dst`` is not empty or the snapshot cannot be restored there."""
    say = progress or (lambda _message: None)
    say("reading the source store…")
    snapshot = src.snapshot()
    say(f"writing {sum(snapshot.counts().values()):,} records and layers into the destination…")
    dst.restore(snapshot)
    return snapshot.counts()


def diff_stores(a: Store, b: Store) -> list[str]:
    """Every difference between the data of ``a`` and ``b``, one line each ([] when they hold the
    same): record tables row by row (ids, values, times, hashes), the layer registries, each layer's
    features (by their content hash) and the QGIS styles."""
    return diff_snapshots(a.snapshot(), b.snapshot())


def diff_snapshots(a: StoreSnapshot, b: StoreSnapshot) -> list[str]:
    out: list[str] = []
    if a.schema_version != b.schema_version:
        out.append(f"schema version: {a.schema_version} vs {b.schema_version}")
    for name in sorted(set(a.records) | set(b.records)):
        out += _diff_frames(name, a.records.get(name), b.records.get(name), key=None)
    out += _diff_frames("layer registry", a.layers, b.layers, key="layer_type", columns=REGISTRY_COLUMNS)
    for layer_type in sorted(set(a.features) & set(b.features)):
        fa, fb = a.features[layer_type], b.features[layer_type]
        if list(fa.columns) != list(fb.columns):
            out.append(f"layer {layer_type}: columns {list(fa.columns)} vs {list(fb.columns)}")
        elif len(fa) != len(fb) or layer_content_hash(fa) != layer_content_hash(fb):
            out.append(f"layer {layer_type}: the features differ ({len(fa)} vs {len(fb)} features)")
        if fa.crs != fb.crs:
            out.append(f"layer {layer_type}: CRS {fa.crs} vs {fb.crs}")
    # QGIS's layer_styles of a GeoPackage has no `type` column (the geometry kind, which PostGIS's
    # records): it is compared only when both stores have it
    style_columns = [c for c in STYLE_COLUMNS if c != "type" or (a.styles["type"].notna().any()
                                                                 and b.styles["type"].notna().any())]
    a_styles, b_styles = (s.assign(style=s["f_table_name"] + " / " + s["stylename"]) for s in (a.styles, b.styles))
    out += _diff_frames("layer styles", a_styles, b_styles, key="style", columns=["style", *style_columns])
    return out


def _diff_frames(name: str, a: pd.DataFrame | None, b: pd.DataFrame | None, *, key: str | None,
                 columns: list[str] | None = None) -> list[str]:
    if a is None or b is None:
        return [f"{name}: only in the {'first' if b is None else 'second'} store"]
    columns = columns or list(a.columns)
    if list(a.columns) != list(b.columns) and columns == list(a.columns):
        return [f"{name}: columns {list(a.columns)} vs {list(b.columns)}"]
    key = key or columns[0]
    ra = {_plain(r[key]): r for r in a[columns].to_dict("records")}
    rb = {_plain(r[key]): r for r in b[columns].to_dict("records")}
    lines = [f"{name} {key}={k}: only in the first store" for k in sorted(set(ra) - set(rb), key=str)]
    lines += [f"{name} {key}={k}: only in the second store" for k in sorted(set(rb) - set(ra), key=str)]
    for k in sorted(set(ra) & set(rb), key=str):
        changed = [c for c in columns if not _same(ra[k][c], rb[k][c])]
        if changed:
            shown = "; ".join(f"{c} {_show(ra[k][c])} vs {_show(rb[k][c])}" for c in changed[:4])
            lines.append(f"{name} {key}={k}: {shown}")
    if len(lines) > MAX_SHOWN:
        lines = [*lines[:MAX_SHOWN], f"{name}: … and {len(lines) - MAX_SHOWN} more differing rows"]
    return lines


def _plain(v):
    return v.item() if hasattr(v, "item") and not isinstance(v, str | bytes) else v


def _same(x, y) -> bool:
    x, y = _plain(x), _plain(y)
    if isinstance(x, float) and isinstance(y, float) and x != x and y != y:  # both NaN
        return True
    if isinstance(x, list | tuple) or isinstance(y, list | tuple):
        return list(x or []) == list(y or [])
    return x == y and type(x) is type(y) or (isinstance(x, int | float) and isinstance(y, int | float) and x == y
                                             and not isinstance(x, bool) and not isinstance(y, bool))


def _show(v) -> str:
    v = _plain(v)
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "…"
