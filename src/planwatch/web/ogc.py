"""OGC API – Features (Part 1: Core, GeoJSON) for the one map's layers: ``/ogc`` (landing page),
``/ogc/conformance``, ``/ogc/collections``, ``/ogc/collections/{id}``, ``…/items`` (``bbox``,
``limit``, ``offset``, paging links) and ``…/items/{fid}``. GeoJSON in WGS 84 (CRS84), as the standard
requires by default; what GDAL's OAPIF driver (the one QGIS uses) reads.

A collection is a layer type the store holds; a feature's id is its 1-based position in the
layer's current version (a new version of the layer renumbers it). Synthetic layers say so in their
title and description. The layer's WGS 84 frame is kept per (layer, version) for paging, so a layer
is read from the store once per version, not per page.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DEFAULT_LIMIT, MAX_LIMIT = 100, 10_000
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
        frame = _wgs84(open_store, layer_type, int(row["version"]))
        bbox = [float(x) for x in frame.total_bounds] if len(frame) else [-180.0, -90.0, 180.0, 90.0]
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
        row = find(collection_id)
        frame = _wgs84(open_store, collection_id, int(row["version"]))
        box = _bbox(bbox)
        if box is not None:
            frame = frame.iloc[frame.sindex.query(_box(box), predicate="intersects")].sort_index()
        page = frame.iloc[offset:offset + limit]
        root = f"{base(request)}/collections/{collection_id}/items"
        extra = f"&bbox={bbox}" if bbox else ""
        links = [{"href": f"{root}?limit={limit}&offset={offset}{extra}", "rel": "self", "type": GEOJSON}]
        if offset + limit < len(frame):
            links.append({"href": f"{root}?limit={limit}&offset={offset + limit}{extra}", "rel": "next", "type": GEOJSON})
        if offset > 0:
            links.append({"href": f"{root}?limit={limit}&offset={max(0, offset - limit)}{extra}", "rel": "prev",
                          "type": GEOJSON})
        return _json({"type": "FeatureCollection", "features": _features(page),
                      "numberMatched": int(len(frame)), "numberReturned": int(len(page)), "links": links}, GEOJSON)

    @r.get("/collections/{collection_id}/items/{fid}", summary="One feature")
    def item(collection_id: str, fid: int, request: Request):
        row = find(collection_id)
        frame = _wgs84(open_store, collection_id, int(row["version"]))
        if not 1 <= fid <= len(frame):
            raise HTTPException(404, f"no feature {fid} in {collection_id} (1–{len(frame)})")
        feature = _features(frame.iloc[[fid - 1]])[0]
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


def _box(b):
    from shapely.geometry import box

    return box(*b)


_FRAMES: OrderedDict[tuple, object] = OrderedDict()  # (store opener, layer type, version) → WGS 84 frame
_KEEP = 8


def _wgs84(open_store: Callable, layer_type: str, version: int):
    """The layer's current version in WGS 84, read once per (store, layer, version); the last
    :data:`_KEEP` are kept."""
    key = (id(open_store), layer_type, version)
    if key in _FRAMES:
        _FRAMES.move_to_end(key)
        return _FRAMES[key]
    gdf = open_store().read_layer(layer_type)
    gdf = (gdf.to_crs(4326) if gdf.crs is not None else gdf).reset_index(drop=True)
    _FRAMES[key] = gdf
    while len(_FRAMES) > _KEEP:
        _FRAMES.popitem(last=False)
    return gdf


def _features(frame) -> list[dict]:
    """GeoJSON features of ``frame`` (ids 1-based positions in the layer)."""
    import shapely

    props = [c for c in frame.columns if c != frame.geometry.name]
    geoms = shapely.to_geojson(frame.geometry.values)
    out = []
    for pos, geom, values in zip(frame.index, geoms, frame[props].itertuples(index=False, name=None), strict=True):
        out.append({"type": "Feature", "id": int(pos) + 1, "geometry": None if geom is None else json.loads(geom),
                    "properties": {k: _value(v) for k, v in zip(props, values, strict=True)}})
    return out


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
