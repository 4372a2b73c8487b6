"""Import a layer of the one map: read a vector file, check it against its plan layer type, bring it
to the storage CRS and write it to the store, all or nothing.

Formats: GeoPackage (``FILE.gpkg`` with one feature layer, or ``FILE.gpkg:LAYER``), Shapefile
(``.shp`` with its sidecar files, or zipped: ``FILE.zip`` holding one, or ``FILE.zip:path/in/zip.shp``),
GeoJSON (``.geojson``/``.json``) and GeoParquet (``.parquet``). Every problem found is collected
before anything is written, and raised as one :class:`LayerImportError` that names the file, the
feature and the field of each. Official layers and the synthetic demo layers go through the same
:func:`prepare_layer`.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from planwatch.onemap.crs import (
    CRSProblem,
    SourceCRS,
    crs_label,
    gcj02_geometries_to_wgs84,
    inside_bounds,
    looks_projected,
    parse_crs,
    resolve_crs,
    to_wgs84_transformer,
)
from planwatch.onemap.geometry import (
    FeatureProblem,
    check_attributes,
    check_geometry_presence,
    feature_labels,
    keep_geometry_kind,
    repair_geometries,
)
from planwatch.plan.model import Plan
from planwatch.plan.spatial import LayerType, Spatial
from planwatch.store.base import Store

FORMATS = {
    ".gpkg": "GeoPackage",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
}
_SHAPEFILE_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_MEMBER_RE = re.compile(r"^(?P<path>.+\.(?:gpkg|zip)):(?P<member>[^:\\/][^:]*)$", re.IGNORECASE)
MAX_PROBLEMS_SHOWN = 50
MAX_NOTES_STORED = 100  # repairs kept in the registry row (the report returns them all)


class LayerImportError(ValueError):
    """The layer was refused; nothing was written. ``problems`` lists every reason."""

    def __init__(self, problems: list[FeatureProblem]):
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:MAX_PROBLEMS_SHOWN])
        more = f"\n  … and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        super().__init__(f"layer refused, nothing was written ({len(problems)} problem(s)):\n{shown}{more}")


@dataclass
class ImportReport:
    """What an import did: where the layer came from, what was repaired, where it now lives."""

    layer_type: str
    name: str  # the plan's Chinese name of the layer type
    file: str
    source_layer: str | None  # the layer (GeoPackage) or member (zip) read, if one was chosen
    sha256: str
    features: int
    crs_in: str  # e.g. EPSG:4326, GCJ-02
    crs_stored: str
    version: int
    table_name: str
    content_hash: str
    synthetic: bool
    repairs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------ reading


def split_layer_spec(path: str | Path) -> tuple[Path, str | None]:
    """``FILE.gpkg:LAYER`` / ``FILE.zip:MEMBER`` → (file, layer or member); otherwise (file, None)."""
    text = str(path)
    m = _MEMBER_RE.match(text)
    if m and not Path(text).exists():
        return Path(m.group("path")), m.group("member")
    return Path(text), None


def file_sha256(path: Path) -> str:
    """sha256 of the file; for a Shapefile, of its .shp/.shx/.dbf/.prj/.cpg in that order."""
    h = hashlib.sha256()
    parts = [path]
    if path.suffix.lower() == ".shp":
        parts = [p for ext in _SHAPEFILE_SIDECARS if (p := _sidecar(path, ext)) is not None]
    for p in parts:
        with open(p, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _sidecar(shp: Path, ext: str) -> Path | None:
    for cand in (shp.with_suffix(ext), shp.with_suffix(ext.upper())):
        if cand.exists():
            return cand
    return None


def read_vector(path: str | Path) -> tuple[gpd.GeoDataFrame, str | None]:
    """Read a vector file (see the module docstring for formats) as it is: no CRS change, no checks.
    Returns (frame, the layer or zip member read, if one was chosen). Raises LayerImportError."""
    file, member = split_layer_spec(path)
    name = str(file)
    if not file.exists():
        raise LayerImportError([FeatureProblem(name, None, None, "file not found")])
    suffix = file.suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise LayerImportError([FeatureProblem(name, None, None, f"unsupported file type {suffix!r}; expected one of {known}")])
    try:
        if suffix in {".parquet", ".geoparquet"}:
            return gpd.read_parquet(file), None
        if suffix == ".gpkg":
            layer = member or _only_layer(file)
            return pyogrio.read_dataframe(file, layer=layer), layer
        if suffix == ".zip":
            inner = member or _only_member(file)
            return pyogrio.read_dataframe(f"/vsizip/{file.resolve()}/{inner}"), inner
        if suffix == ".shp" and _sidecar(file, ".dbf") is None:
            raise LayerImportError([FeatureProblem(name, None, None, "the Shapefile's .dbf (attributes) is missing beside it")])
        return pyogrio.read_dataframe(file), None
    except LayerImportError:
        raise
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as e:
        raise LayerImportError([FeatureProblem(name, None, None, f"cannot be read as {FORMATS[suffix]}: {e}")]) from e
    except (ValueError, OSError) as e:  # GeoParquet without geo metadata, unreadable file, …
        raise LayerImportError([FeatureProblem(name, None, None, f"cannot be read as {FORMATS[suffix]}: {e}")]) from e


def _only_layer(file: Path) -> str:
    try:
        listed = pyogrio.list_layers(file)
    except pyogrio.errors.DataSourceError as e:
        raise LayerImportError([FeatureProblem(str(file), None, None, f"not a GeoPackage: {e}")]) from e
    features = [str(n) for n, g in listed if g is not None]
    if len(features) == 1:
        return features[0]
    if not features:
        raise LayerImportError([FeatureProblem(str(file), None, None, "the GeoPackage has no feature layer")])
    raise LayerImportError(
        [FeatureProblem(str(file), None, None, f"the GeoPackage has {len(features)} feature layers ({', '.join(features)}): "
                        f"choose one as {file}:LAYER")]
    )


def _only_member(file: Path) -> str:
    try:
        names = zipfile.ZipFile(file).namelist()
    except zipfile.BadZipFile as e:
        raise LayerImportError([FeatureProblem(str(file), None, None, f"not a zip file: {e}")]) from e
    vectors = [n for n in names if Path(n).suffix.lower() in {".shp", ".gpkg", ".geojson", ".json"} and not n.startswith("__MACOSX")]
    if len(vectors) == 1:
        return vectors[0]
    if not vectors:
        raise LayerImportError([FeatureProblem(str(file), None, None, "the zip holds no .shp, .gpkg or .geojson")])
    raise LayerImportError(
        [FeatureProblem(str(file), None, None, f"the zip holds {len(vectors)} vector files ({', '.join(vectors)}): "
                        f"choose one as {file}:MEMBER")]
    )


# ------------------------------------------------------------------ checking


def prepare_layer(
    gdf: gpd.GeoDataFrame, layer_type: LayerType, spatial: Spatial, *, crs: str | None = None, file: str = "<frame>"
) -> tuple[gpd.GeoDataFrame, list[str], list[str]]:
    """Check a layer against its type and bring it to the storage CRS. No I/O.

    Checks, collecting every problem before refusing: features present; geometries not null, not
    empty, of the layer's kind, finite; the CRS known (``crs`` — an EPSG code or ``gcj02`` —
    overrides the frame's); every feature inside the plan area and not with swapped axes; the
    required attributes present and allowed. Repairs invalid geometries (``make_valid``).

    Returns (frame in ``spatial.storage_crs``, repairs, notes); raises :class:`LayerImportError`.
    """
    if len(gdf) == 0:
        raise LayerImportError([FeatureProblem(file, None, None, "the layer has no features")])
    presence = check_geometry_presence(gdf, layer_type, file)
    gdf, attr_notes, attr_problems = check_attributes(gdf, layer_type, file)
    notes = list(attr_notes)
    try:
        source = resolve_crs(gdf.crs, crs, file=file)
    except CRSProblem as e:
        raise LayerImportError([FeatureProblem(file, None, None, str(e)), *presence, *attr_problems]) from e
    if source.note:
        notes.append(f"{file}: {source.note}")
    if presence:  # the geometry checks below need every geometry present and of the right kind
        raise LayerImportError([*presence, *attr_problems])

    gdf, repairs, problems = repair_geometries(gdf, layer_type, file, crs_label=source.label)
    problems = [*attr_problems, *problems]
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if source.gcj02:
        geoms = gcj02_geometries_to_wgs84(geoms)
        notes.append(f"{file}: coordinates converted from GCJ-02 to WGS 84 (inverse of the GCJ-02 formula, < 1 mm)")
    problems += check_plan_area(geoms, source, spatial.plan_area_bounds_wgs84, feature_labels(gdf), file)
    if problems:
        raise LayerImportError(problems)

    out = gpd.GeoDataFrame(gdf.drop(columns=gdf.geometry.name), geometry=gpd.GeoSeries(geoms, index=gdf.index, crs=source.crs))
    out = out.rename_geometry("geometry") if out.geometry.name != "geometry" else out
    out = out.to_crs(spatial.storage_crs)
    # Reprojection can make a ring touch itself at a vertex; repair and say so.
    moved = np.flatnonzero(~shapely.is_valid(out.geometry.values))
    if len(moved):
        labels = feature_labels(gdf)
        fixed = out.geometry.values.copy()
        for i in moved:
            kept, _ = keep_geometry_kind(shapely.make_valid(fixed[i]), layer_type.geometry)
            fixed[i] = kept if kept is not None else fixed[i]
            repairs.append(f"{file}: {labels[i]}: became invalid when transformed to {spatial.storage_crs}; repaired with make_valid")
        out = out.set_geometry(gpd.GeoSeries(fixed, index=out.index, crs=out.crs))
    for col in [c for c in out.columns if str(c).lower() == "fid"]:
        out = out.rename(columns={col: f"src_{col}"})
        notes.append(f"{file}: field '{col}' renamed 'src_{col}' (fid is the GeoPackage's own key)")
    if source.label != crs_label(out.crs):
        notes.append(f"{file}: transformed from {source.label} to {crs_label(out.crs)}")
    return out.reset_index(drop=True), repairs, notes


def check_plan_area(
    geoms: np.ndarray, source: SourceCRS, bounds: tuple[float, float, float, float], labels: list[str], file: str
) -> list[FeatureProblem]:
    """Every feature must lie inside the plan area (``bounds``: lon/lat, WGS 84). A feature that is
    outside but would be inside with x and y exchanged is reported as having swapped axes."""
    to_wgs = to_wgs84_transformer(source.crs)
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    b = shapely.bounds(geoms)  # xmin, ymin, xmax, ymax in the source CRS
    lon, lat = _extent_wgs84(coords, index, len(geoms), to_wgs)
    inside = inside_bounds(lon, lat, bounds).all(axis=1)
    if inside.all():
        return []
    slon, slat = _extent_wgs84(coords[:, ::-1], index, len(geoms), to_wgs)  # x and y exchanged
    swapped = ~inside & inside_bounds(slon, slat, bounds).all(axis=1)
    problems: list[FeatureProblem] = []
    lon_min, lat_min, lon_max, lat_max = bounds
    area = f"the plan area is lon {lon_min}–{lon_max}, lat {lat_min}–{lat_max} (WGS 84)"
    geographic = source.crs.is_geographic
    axes = "longitude, latitude" if geographic else "easting, northing"
    if swapped.sum() == len(geoms) or swapped.sum() > len(geoms) // 2:
        xs, ys = b[:, [0, 2]], b[:, [1, 3]]
        problems.append(
            FeatureProblem(
                file, None, None,
                f"the axes look swapped: {int(swapped.sum())} of {len(geoms)} features lie in the plan area only with x and y "
                f"exchanged (x {np.nanmin(xs):.6g}–{np.nanmax(xs):.6g}, y {np.nanmin(ys):.6g}–{np.nanmax(ys):.6g} in "
                f"{source.label}); write x = {axes.split(', ')[0]}, y = {axes.split(', ')[1]}",
            )
        )
    elif (~inside).sum() == len(geoms):
        hint = "check the CRS"
        if geographic and looks_projected(b[:, 0], b[:, 1]):
            hint = f"the coordinates look like metres, not degrees: the file's CRS ({source.label}) is probably wrong; give it with --crs"
        elif not geographic:
            hint = f"is {source.label} the right CRS (or Gauss-Kruger zone)? give it with --crs"
        problems.append(FeatureProblem(file, None, None, f"no feature lies in the plan area ({area}): {hint}"))
    for i in np.flatnonzero(~inside):
        if swapped[i]:
            problems.append(FeatureProblem(file, labels[i], None, f"the axes look swapped (x and y exchanged in {source.label})"))
            continue
        with np.errstate(invalid="ignore"):
            where = (
                f"lon {np.nanmin(lon[i]):.4f}–{np.nanmax(lon[i]):.4f}, lat {np.nanmin(lat[i]):.4f}–{np.nanmax(lat[i]):.4f}"
                if np.isfinite(lon[i]).all() and np.isfinite(lat[i]).all()
                else f"x {b[i, 0]:.6g}–{b[i, 2]:.6g}, y {b[i, 1]:.6g}–{b[i, 3]:.6g} in {source.label}, not transformable"
            )
        problems.append(FeatureProblem(file, labels[i], None, f"lies outside the plan area ({where}; {area})"))
    return problems


def _extent_wgs84(coords: np.ndarray, index: np.ndarray, n: int, to_wgs) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, its (min, max) longitude and latitude over all its vertices in WGS 84: arrays of
    shape (n, 2); NaN where a vertex does not transform."""
    with np.errstate(invalid="ignore", over="ignore"):
        lon, lat = to_wgs.transform(coords[:, 0], coords[:, 1], errcheck=False)
    lon = np.where(np.isfinite(lon), lon, np.nan)
    lat = np.where(np.isfinite(lat), lat, np.nan)
    out_lon = np.full((n, 2), np.nan)
    out_lat = np.full((n, 2), np.nan)
    frame = pd.DataFrame({"i": index, "lon": lon, "lat": lat})
    bad = frame[["lon", "lat"]].isna().any(axis=1).groupby(frame["i"]).any()
    agg = frame.groupby("i").agg(lon_min=("lon", "min"), lon_max=("lon", "max"), lat_min=("lat", "min"), lat_max=("lat", "max"))
    agg.loc[bad[bad].index] = np.nan  # one vertex that does not transform spoils the feature
    rows = agg.index.to_numpy()
    out_lon[rows] = agg[["lon_min", "lon_max"]].to_numpy()
    out_lat[rows] = agg[["lat_min", "lat_max"]].to_numpy()
    return out_lon, out_lat


# ------------------------------------------------------------------ importing


def import_frame(
    gdf: gpd.GeoDataFrame,
    layer_type: str | LayerType,
    store: Store,
    plan: Plan,
    *,
    source: str,
    sha256: str,
    crs: str | None = None,
    synthetic: bool = False,
    notes: list[str] | tuple[str, ...] = (),
    file: str | None = None,
    source_layer: str | None = None,
) -> ImportReport:
    """Check (:func:`prepare_layer`) and store a frame as the current layer of its type."""
    lt = _layer_type(layer_type, plan, source)
    file = file or source
    prepared, repairs, prep_notes = prepare_layer(gdf, lt, plan.spatial, crs=crs, file=file)
    crs_in = parse_crs(crs).label if crs else crs_label(gdf.crs)  # valid: prepare_layer accepted it
    stored_notes = [*notes, *prep_notes, *repairs[:MAX_NOTES_STORED]]
    if len(repairs) > MAX_NOTES_STORED:
        stored_notes.append(f"… and {len(repairs) - MAX_NOTES_STORED} more repairs")
    label = f" ({source_layer})" if source_layer else ""
    row = store.write_layer(
        lt.id, prepared, source=source, sha256=sha256, synthetic=synthetic, notes=stored_notes,
        description=f"{lt.name} ({lt.id}): {len(prepared)} features from {Path(file).name}{label}",
    )
    return ImportReport(
        layer_type=lt.id, name=lt.name, file=file, source_layer=source_layer, sha256=sha256, features=len(prepared),
        crs_in=crs_in, crs_stored=row["crs"], version=row["version"], table_name=row["table_name"],
        content_hash=row["content_hash"], synthetic=synthetic, repairs=repairs, notes=[*notes, *prep_notes],
    )


def import_layer(
    path: str | Path,
    layer_type: str,
    store: Store,
    plan: Plan,
    crs: str | None = None,
    *,
    synthetic: bool = False,
    notes: list[str] | tuple[str, ...] = (),
) -> ImportReport:
    """Import a vector file as the current layer of ``layer_type`` (its id, e.g. ``farmland``, or the
    plan's name, e.g. ``永久基本农田``), all or nothing. ``crs`` (``EPSG:…`` or ``gcj02``) overrides
    the file's CRS. Raises :class:`LayerImportError` naming the file, feature and field of every problem."""
    file, _member = split_layer_spec(path)
    lt = _layer_type(layer_type, plan, str(file))
    gdf, chosen = read_vector(path)
    return import_frame(
        gdf, lt, store, plan, source=str(path), sha256=file_sha256(file), crs=crs, synthetic=synthetic,
        notes=notes, file=str(file), source_layer=chosen,
    )


def _layer_type(layer_type: str | LayerType, plan: Plan, file: str) -> LayerType:
    if isinstance(layer_type, LayerType):
        return layer_type
    if plan.spatial is None:
        raise LayerImportError([FeatureProblem(file, None, None, f"plan {plan.meta.id} defines no layer types (layers.yaml)")])
    try:
        return plan.spatial.layer_type(layer_type)
    except KeyError as e:
        raise LayerImportError([FeatureProblem(file, None, None, str(e.args[0]))]) from e


# ------------------------------------------------------------------ storage CRS migration


def migrate_storage_crs(store: Store, plan: Plan, progress=None) -> list[dict]:
    """Reproject every stored layer that is not in the plan's storage CRS into it, as a new version.

    A store written before the package moved its storage CRS (Beijing: EPSG:4547, the CM 114E zone,
    to EPSG:4548, the CM 117E zone Beijing lies in) is migrated this way the first time a plan-aware
    verb opens it. Each layer keeps its source, hash and synthetic flag; its notes say what was done.
    Returns the new registry rows (empty when nothing needed migrating)."""
    if plan.spatial is None:
        return []
    target = plan.spatial.storage_crs
    rows = []
    registry = store.layers()
    for r in registry.to_dict("records"):
        if _same_crs(r["crs"], target):
            continue
        if progress:
            progress(f"migrating layer {r['layer_type']} from {r['crs']} to {target}…")
        gdf = store.read_layer(r["layer_type"])
        moved = gdf.to_crs(target)
        note = f"migrated from {r['crs']} to {target} (the plan package's storage CRS) by planwatch"
        rows.append(store.write_layer(
            r["layer_type"], moved, source=r["source"], sha256=r["sha256"], synthetic=bool(r["synthetic"]),
            notes=[*r["notes"], note], description=r["description"],
        ))
    return rows


def _same_crs(a: str, b: str) -> bool:
    import pyproj

    try:
        return pyproj.CRS.from_user_input(a) == pyproj.CRS.from_user_input(b)
    except pyproj.exceptions.CRSError:
        return False
