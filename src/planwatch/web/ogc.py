"""OGC API – Features (Part 1: Core, GeoJSON) for the one map's layers: ``/ogc`` (landing page),
``/ogc/conformance``, ``/ogc/collections``, ``/ogc/collections/{id}``, ``…/items`` (``bbox``,
``limit``, ``offset``, paging links) and ``…/items/{fid}``. GeoJSON in WGS 84 (CRS84), as the standard
requires by default; what GDAL's OAPIF driver (the one QGIS uses) reads.

A collection is a layer type the store holds. Synthetic layers say so in their title and
description. A feature's id is its stored row id (fid), which is also its 1-based position in the
layer's current version, so a new version of the layer renumbers it (see
:mod:`planwatch.store.features`). Each request reads only its page from the store, through the
layer's spatial index (:meth:`~planwatch.store.base.Store.layer_page`): the server keeps no layer in
memory, so a page of a 1,000,000-feature layer costs what a page of a small one does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
LAST_ID = 2**63 - 1  # the largest id (and offset) a store's integer key can hold
JSON, GEOJSON = "application/json", "application/geo+json"


def _json(obj, media: str = JSON, status: int = 200) -> Response:
    return Response(json.dumps(obj, ensure_ascii=False, allow_nan=False, default=_value), media_type=media,
                    status_code=status)


def router(open_store: Callable, plan) -> APIRouter:
    """The OGC API – Features routes over the store ``open_store()`` opens, for ``plan``'s layer types."""
    from planwatch.web.api import ERRORS

    r = APIRouter(prefix="/ogc", tags=["OGC API – Features"], responses={k: ERRORS[k] for k in (400, 404)})
    names = {lt.id: lt.name for lt in (plan.spatial.layer_types if plan.spatial else [])}

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/ogc"

    def registry():
        return open_store().layers()

    def collection(row, root: str) -> dict:
        from planwatch.store.base import SYNTHETIC_LABEL

        layer_type = row["layer_type"]
        title = names.get(layer_type, layer_type) + ("（示意数据）" if row["synthetic"] else "")
        extent = _read(open_store().layer_extent, layer_type)
        bbox = [float(x) for x in extent] if extent is not None else [-180.0, -90.0, 180.0, 90.0]
        desc = str(row.get("description") or "") + (f" {SYNTHETIC_LABEL}" if row["synthetic"] else "")
        return {
            "id": layer_type, "title": title, "description": desc.strip(), "itemType": "feature",
            "crs": [CRS84], "storageCrs": CRS84,
            "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}},
            "links": [
                {"href": f"{root}/collections/{layer_type}", "rel": "self", "type": JSON, "title": title},
                {"href": f"{root}/collections/{layer_type}/items", "rel": "items", "type": GEOJSON, "title": title},
            ],
        }

    def find(layer_type: str):
        rows = registry()
        hit = rows[rows["layer_type"] == layer_type]
        if not len(hit):
            raise HTTPException(404, f"no collection {layer_type!r}: /ogc/collections lists them")
        return hit.iloc[0].to_dict()

    @r.get("", summary="Landing page")
    def landing(request: Request):
        root = base(request)
        return _json({
            "title": f"planwatch — {plan.meta.title}（一张图）",
            "description": "The one map's layers as OGC API – Features (GeoJSON, WGS 84).",
            "links": [
                {"href": root, "rel": "self", "type": JSON, "title": "this document"},
                {"href": str(request.base_url).rstrip("/") + "/api/openapi.json", "rel": "service-desc",
                 "type": "application/vnd.oai.openapi+json;version=3.0", "title": "the API definition"},
                {"href": f"{root}/conformance", "rel": "conformance", "type": JSON, "title": "conformance"},
                {"href": f"{root}/collections", "rel": "data", "type": JSON, "title": "the collections"},
            ],
        })

    @r.get("/conformance", summary="Conformance classes")
    def conformance():
        return _json({"conformsTo": CONFORMANCE})

    @r.get("/collections", summary="The collections (the one map's layers)")
    def collections(request: Request):
        root = base(request)
        rows = registry()
        return _json({
            "links": [{"href": f"{root}/collections", "rel": "self", "type": JSON, "title": "the collections"}],
            "collections": [collection(row, root) for row in rows.to_dict("records")],
        })

    @r.get("/collections/{collection_id}", summary="One collection")
    def one(collection_id: str, request: Request):
        return _json(collection(find(collection_id), base(request)))

    @r.get("/collections/{collection_id}/items", summary="Features of a collection, in pages")
    def items(collection_id: str, request: Request,
              bbox: str | None = Query(None, description="minx,miny,maxx,maxy in WGS 84 degrees"),
              limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
              offset: int = Query(0, ge=0)):
        box = _bbox(bbox)
        page = _read(open_store().layer_page, collection_id, offset=min(offset, LAST_ID), limit=limit, bbox=box)
        root = f"{base(request)}/collections/{collection_id}/items"
        extra = f"&bbox={bbox}" if bbox else ""
        links = [{"href": f"{root}?limit={limit}&offset={offset}{extra}", "rel": "self", "type": GEOJSON}]
        if offset + limit < page.matched:
            links.append({"href": f"{root}?limit={limit}&offset={offset + limit}{extra}", "rel": "next", "type": GEOJSON})
        if offset > 0:
            links.append({"href": f"{root}?limit={limit}&offset={max(0, offset - limit)}{extra}", "rel": "prev",
                          "type": GEOJSON})
        return Response(_feature_collection(page.features, page.matched, links), media_type=GEOJSON)

    @r.get("/collections/{collection_id}/items/{fid}", summary="One feature")
    def item(collection_id: str, fid: int, request: Request):
        page = _read(open_store().layer_page, collection_id, fid=fid, limit=1) if 1 <= fid <= LAST_ID else None
        if page is None or not len(page.features):
            raise HTTPException(404, f"no feature {fid} in {collection_id} (ids run from 1 to the layer's feature count)")
        feature = json.loads(_feature_texts(page.features)[0])
        root = f"{base(request)}/collections/{collection_id}"
        feature["links"] = [{"href": f"{root}/items/{fid}", "rel": "self", "type": GEOJSON},
                            {"href": root, "rel": "collection", "type": JSON}]
        return _json(feature, GEOJSON)

    return r


def _bbox(text: str | None):
    if text is None:
        return None
    try:
        box = [float(x) for x in text.split(",")]
    except ValueError:
        raise HTTPException(400, "bbox: four numbers minx,miny,maxx,maxy (WGS 84 degrees)") from None
    if len(box) != 4 or not all(math.isfinite(x) for x in box) or box[0] > box[2] or box[1] > box[3]:
        raise HTTPException(400, "bbox: four numbers minx,miny,maxx,maxy (WGS 84 degrees), min ≤ max")
    return box


def _read(read: Callable, layer_type: str, **kwargs):
    """``read(layer_type, **kwargs)`` of the store; an unknown layer (or one removed meanwhile) is a 404."""
    try:
        return read(layer_type, **kwargs)
    except KeyError:
        raise HTTPException(404, f"no collection {layer_type!r}: /ogc/collections lists them") from None


def _feature_collection(frame, matched: int, links: list[dict]) -> str:
    """The GeoJSON FeatureCollection of a page (``frame`` in WGS 84, indexed by id), as text."""
    tail = json.dumps({"numberMatched": int(matched), "numberReturned": len(frame), "links": links},
                      ensure_ascii=False, allow_nan=False)
    return '{"type":"FeatureCollection","features":[' + ",".join(_feature_texts(frame)) + "]," + tail[1:]


def _feature_texts(frame) -> list[str]:
    """Each feature of ``frame`` (in WGS 84, indexed by id) as GeoJSON text, its geometry written once
    by GEOS rather than parsed and written again."""
    import shapely

    props = [c for c in frame.columns if c != frame.geometry.name]
    geoms = shapely.to_geojson(frame.geometry.values)
    columns = [_values(frame[c]) for c in props]
    out = []
    for fid, geom, *values in zip(frame.index.tolist(), geoms, *columns, strict=True):
        properties = json.dumps(dict(zip(props, values, strict=True)), ensure_ascii=False, allow_nan=False)
        out.append(f'{{"type":"Feature","id":{int(fid)},"geometry":{geom or "null"},"properties":{properties}}}')
    return out


def _values(column) -> list:
    """A column's values as JSON takes them, a column at a time: numbers and booleans as Python's,
    a missing or infinite number as None, anything else through :func:`_value`."""
    kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else ""
    if kind == "f":
        return [v if math.isfinite(v) else None for v in column.to_numpy().tolist()]
    if kind and kind in "iub":
        return column.to_numpy().tolist()
    return [_value(v) for v in column]


def _value(v):
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, str):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, str | int | float | bool):
        return v
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


__all__ = ["CONFORMANCE", "router"]
