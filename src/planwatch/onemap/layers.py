"""Import a layer of the one map: read a vector file, check it against its plan layer type, bring it
to the storage CRS and write it to the store, all or nothing.

Formats: GeoPackage (``FILE.gpkg`` with one feature layer, or ``FILE.gpkg:LAYER``), Shapefile
(``.shp`` with its sidecar files, or zipped: ``FILE.zip`` holding one, or ``FILE.zip:path/in/zip.shp``),
GeoJSON (``.geojson``/``.json``) and GeoParquet (``.parquet``). Every problem found is collected
before anything is written, and raised as one :class:`LayerImportError` that names the file, the
feature and the field of each. Official layers and the synthetic demo layers go through the same
:func:`prepare_layer`.

The files users have: a Shapefile's text encoding can be given (``encoding="GBK"``) when it has no
.cpg, and text that still reads as mojibake is refused; the file's field names can be mapped to the
layer type's (``fields=["name=stop_name"]``); 3D and measured geometries are flattened to 2-D.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
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
    explain_geos_reading_error,
    feature_labels,
    flatten_to_2d,
    keep_geometry_kind,
    rename_fields,
    repair_geometries,
    unreadable_geometries,
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


@dataclass
class VectorFile:
    """A vector file as read by :func:`read_layer_file`: the frame (fields renamed by ``fields``,
    geometries flattened to 2-D), the layer or zip member read if one was chosen, and what reading
    noted (``notes``) and changed in the data (``repairs``)."""

    frame: gpd.GeoDataFrame
    source_layer: str | None
    notes: list[str] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReadOptions:
    """How to read a user's file: ``encoding``, the text encoding of a Shapefile's .dbf (None: its
    .cpg says, else GDAL reads ISO-8859-1); ``fields``, the layer type's field names to take from
    the file's (``["name=stop_name"]`` or ``{"name": "stop_name"}``)."""

    encoding: str | None = None
    fields: Mapping[str, str] | Sequence[str] = ()


_READ_OPTIONS: ContextVar[ReadOptions | None] = ContextVar("planwatch_read_options", default=None)


@contextmanager
def read_options(*, encoding: str | None = None, fields: Mapping[str, str] | Sequence[str] = ()) -> Iterator[None]:
    """Read every file opened inside the block with these options, unless a call passes its own. For
    callers that reach :func:`read_vector` through code that does not pass them on
    (``planwatch review --out`` → ``review_file``)."""
    token = _READ_OPTIONS.set(ReadOptions(encoding, fields))
    try:
        yield
    finally:
        _READ_OPTIONS.reset(token)


def read_vector(
    path: str | Path, *, encoding: str | None = None, fields: Mapping[str, str] | Sequence[str] | None = None
) -> tuple[gpd.GeoDataFrame, str | None]:
    """Read a vector file (see the module docstring for formats) as it is: no CRS change, no geometry
    checks, Z kept (:func:`prepare_layer` flattens it and says so). Text that looks mis-decoded is
    refused, fields are renamed by ``fields`` (see :func:`read_layer_file`). Returns (frame, the
    layer or zip member read, if one was chosen). Raises LayerImportError."""
    got, _measured = _read_file(path, encoding, fields)
    return got.frame, got.source_layer


def read_layer_file(
    path: str | Path, *, encoding: str | None = None, fields: Mapping[str, str] | Sequence[str] | None = None
) -> VectorFile:
    """Read a vector file for import, all checks of reading done, or raise :class:`LayerImportError`.

    - ``encoding``: a Shapefile's text encoding when it has no .cpg (or a wrong one), e.g. ``GBK``.
      Text that still looks mis-decoded (:func:`mis_decoded_as`) is refused, naming the field and
      the first feature where it shows and the ``--encoding`` that reads it right.
    - ``fields``: the layer type's field → the file's field, ``["name=stop_name"]`` or a dict,
      renamed before any check; an unknown file field is refused, naming the fields the file has.
    - A Shapefile (or a zipped one) without its .dbf or .shx is refused; a geometry GEOS cannot
      build (an unclosed ring) is refused with its feature number; 3D and measured (M)
      geometries are flattened to 2-D, with a line in ``repairs``.

    ``encoding``/``fields`` left None take the values of an enclosing :func:`read_options`."""
    got, measured = _read_file(path, encoding, fields)
    geoms = np.asarray(got.frame.geometry.values, dtype=object)
    file, _member = split_layer_spec(path)
    flat, flattened = flatten_to_2d(geoms, str(file), measured_on_read=measured)
    if flattened:
        gdf = got.frame
        got.frame = gdf.set_geometry(gpd.GeoSeries(flat, index=gdf.index, crs=gdf.crs, name=gdf.geometry.name))
        got.repairs += flattened
    return got


def _read_file(path, encoding, fields) -> tuple[VectorFile, int]:
    """Read, check the text encoding, rename fields. Returns (the file as read, the number of features
    whose M values pyogrio dropped)."""
    opts = _READ_OPTIONS.get() or ReadOptions()
    encoding = opts.encoding if encoding is None else encoding
    fields = opts.fields if fields is None else fields
    file, member = split_layer_spec(path)
    name = str(file)
    if not file.exists():
        raise LayerImportError([FeatureProblem(name, None, None, "file not found")])
    suffix = file.suffix.lower()
    if suffix not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise LayerImportError([FeatureProblem(name, None, None, f"unsupported file type {suffix!r}; expected one of {known}")])
    mapping = parse_field_map(fields, name)
    if encoding:
        _check_encoding(encoding, name)
    parts: _ShapefileParts | None = None  # set for a Shapefile, zipped or not
    src: str | Path = file
    chosen = layer = None
    if suffix == ".gpkg":
        chosen = layer = member or _only_layer(file)
    elif suffix == ".zip":
        chosen = member or _only_member(file)
        src = f"/vsizip/{file.resolve()}/{chosen}"
    if suffix == ".shp" or (suffix == ".zip" and chosen.lower().endswith(".shp")):
        parts = _shapefile_parts(file, chosen)
    notes: list[str] = []
    if encoding and parts is None:
        notes.append(f"{name}: --encoding {encoding} not used: {FORMATS[suffix]} text is UTF-8 by definition")
    gdf, measured, warned = _read_frame(src, layer, suffix, encoding if parts else None, name, parts)
    notes += warned
    problems = _mis_decoded_problems(gdf, name, lambda: _how_text_was_read(src, layer, encoding, parts)) if parts else []
    if not problems:  # a mis-decoded field name would only add a confusing "no such field"
        gdf, field_notes, field_problems = rename_fields(gdf, mapping, name)
        notes += field_notes
        problems += field_problems
    if problems:
        raise LayerImportError(problems)
    if encoding and parts:
        notes.append(f"{name}: text read as {encoding} (--encoding)")
    return VectorFile(gdf, chosen, notes), measured


def parse_field_map(fields: Mapping[str, str] | Sequence[str] | None, file: str) -> dict[str, str]:
    """``--field`` values (``name=stop_name``: the layer type's field = the file's field) or a dict
    → {layer-type field: file field}. Raises LayerImportError on a malformed or repeated one."""
    if not fields:
        return {}
    pairs = list(fields.items()) if isinstance(fields, Mapping) else []
    problems = []
    if not isinstance(fields, Mapping):
        for spec in fields:
            target, sep, source = str(spec).partition("=")
            if not sep or not target.strip() or not source.strip():
                problems.append(FeatureProblem(file, None, None, f"--field {spec!r}: expected LAYER_FIELD=FILE_FIELD, "
                                                                 "e.g. --field name=stop_name"))
                continue
            pairs.append((target.strip(), source.strip()))
    mapping: dict[str, str] = {}
    for target, source in pairs:
        if target in mapping:
            problems.append(FeatureProblem(file, None, target, f"--field {target}=… given twice ({mapping[target]}, {source})"))
        mapping[target] = source
    if problems:
        raise LayerImportError(problems)
    return mapping


def _check_encoding(encoding: str, file: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError as e:
        raise LayerImportError([FeatureProblem(file, None, None, f"--encoding {encoding}: not a known text encoding; "
                                                                 f"use e.g. GBK, GB18030 or UTF-8")]) from e


@dataclass(frozen=True)
class _ShapefileParts:
    """Which sidecars a Shapefile has (beside it, or beside it in the zip)."""

    cpg: bool


def _shapefile_parts(file: Path, member: str | None) -> _ShapefileParts:
    """Refuse a Shapefile without its .dbf (attributes) or .shx (index), naming the missing file;
    GDAL would read one without a .dbf as geometry only, losing every attribute without a word."""
    name = str(file)
    if member is None:  # FILE.shp
        have = {ext for ext in (".dbf", ".shx", ".cpg") if _sidecar(file, ext) is not None}
        stem, where = file.with_suffix(""), "beside it"
    else:  # FILE.zip, member path/in/zip.shp
        listed = {n.lower() for n in zipfile.ZipFile(file).namelist()}
        stem_in_zip = member[: -len(".shp")]
        have = {ext for ext in (".dbf", ".shx", ".cpg") if f"{stem_in_zip}{ext}".lower() in listed}
        stem, where = Path(stem_in_zip), f"in the zip (beside {member})"
    missing = [(ext, what) for ext, what in ((".dbf", "its attributes"), (".shx", "its index")) if ext not in have]
    if missing:
        raise LayerImportError([
            FeatureProblem(name, None, None, f"the Shapefile's {ext} ({what}) is missing: no {stem.name}{ext} {where}; "
                                             "a Shapefile is its .shp, .shx, .dbf and .prj (and .cpg) together")
            for ext, what in missing
        ])
    return _ShapefileParts(cpg=".cpg" in have)


def _read_frame(src, layer, suffix, encoding, name, parts) -> tuple[gpd.GeoDataFrame, int, list[str]]:
    """(frame, features whose M values pyogrio dropped, notes of GDAL's other warnings)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if suffix in {".parquet", ".geoparquet"}:
                gdf = gpd.read_parquet(src)
            else:
                gdf = pyogrio.read_dataframe(src, layer=layer, encoding=encoding)
    except shapely.errors.ShapelyError as e:  # GEOS refuses to build a geometry: name the features
        problems = _unbuildable_geometry_problems(src, layer, suffix, encoding, name)
        raise LayerImportError(problems or [FeatureProblem(name, None, None, explain_geos_reading_error(str(e)))]) from e
    except UnicodeDecodeError as e:  # the text is not in the encoding it was read with
        if parts is None:
            raise LayerImportError([FeatureProblem(name, None, None, f"its text is not valid UTF-8 ({e}); "
                                                                     f"{FORMATS[suffix]} text must be UTF-8")]) from e
        raise LayerImportError(_undecodable_text_problems(src, layer, encoding, name, parts, e)) from e
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as e:
        raise LayerImportError([FeatureProblem(name, None, None, f"cannot be read as {FORMATS[suffix]}: {e}")]) from e
    except (ValueError, OSError) as e:  # GeoParquet without geo metadata, unreadable file, …
        raise LayerImportError([FeatureProblem(name, None, None, f"cannot be read as {FORMATS[suffix]}: {e}")]) from e
    measured, notes = 0, []
    for w in caught:
        text = str(w.message)
        if "Measured (M) geometry types are not supported" in text:
            measured = int((~gdf.geometry.isna()).sum())
        elif "Non closed ring" not in text:  # GDAL's word for what GEOS then refuses (handled above)
            notes.append(f"{name}: GDAL: {text.strip()}")
    return gdf, measured, notes


def _unbuildable_geometry_problems(src, layer, suffix, encoding, name) -> list[FeatureProblem]:
    """On the error path only: read the raw WKB and the attributes again, and name each feature whose
    geometry GEOS refuses to build."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if suffix in {".parquet", ".geoparquet"}:
                import json

                import pyarrow.parquet as pq

                table = pq.read_table(src)
                column = json.loads(table.schema.metadata[b"geo"])["primary_column"]
                frame = table.to_pandas()
                wkb, attrs = frame[column].to_numpy(dtype=object), frame.drop(columns=column)
            else:
                meta, _fids, wkb, field_data = pyogrio.raw.read(src, layer=layer, encoding=encoding)
                # index from the geometries: a layer with no attribute fields still has its features
                attrs = pd.DataFrame(dict(zip(meta["fields"], field_data, strict=True)), index=range(len(wkb)))
    except Exception:  # noqa: BLE001 - the caller then reports the error without feature numbers
        return []
    if not all(w is None or isinstance(w, bytes | bytearray) for w in wkb):
        return []  # not WKB (a GeoArrow-encoded GeoParquet): no feature to name
    return unreadable_geometries(wkb, feature_labels(attrs), name)


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



# ------------------------------------------------------------------ text encoding (Shapefiles)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def mis_decoded_as(text: str) -> tuple[str, str] | None:
    """Whether ``text`` looks mis-decoded (mojibake): (the encoding its bytes are really in, the text
    read in it), else None. Two signatures, each on the whole value:

    1. Chinese read as ISO-8859-1 (GDAL's reading of a .dbf without a .cpg; "±±¾©" for 北京): at least
       half of the non-space characters are in U+0080–U+00FF, and their bytes decode strictly as
       UTF-8 or else as GBK (GB18030) into text with CJK ideographs. European text ("Müller Straße",
       "São Paulo") has too few such characters to match.
    2. UTF-8 read as GBK ("涓滃煄鍖" for 东城区): the text has CJK ideographs, and its GB18030
       bytes decode strictly as UTF-8 (a last character cut short allowed: GDAL drops it) into
       other text with CJK ideographs. None of the 126,000 phrases and 1,383 characters of the
       Beijing plan's own text matches.
    """
    if not text or text.isascii():
        return None
    visible = [c for c in text if not c.isspace()]
    high = sum(1 for c in visible if "\x80" <= c <= "\xff")
    if high and 2 * high >= len(visible):
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:
            raw = b""
        for codec, label in (("utf-8", "UTF-8"), ("gb18030", "GBK")):
            try:
                fixed = raw.decode(codec)
            except UnicodeDecodeError:
                continue
            if _CJK.search(fixed):
                return label, fixed
    if _CJK.search(text):
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            fixed = decoder.decode(text.encode("gb18030"), final=False)
        except (UnicodeEncodeError, UnicodeDecodeError):
            return None
        if fixed != text and _CJK.search(fixed):
            return "UTF-8", fixed + ("…" if decoder.getstate()[0] else "")  # … : GDAL dropped the cut-short last character
    return None


def _how_text_was_read(src, layer, given: str | None, parts: _ShapefileParts) -> tuple[str, str]:
    """(the encoding a Shapefile's text was read in, why)."""
    if given:
        return given, f"--encoding {given}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            used = pyogrio.read_info(src, layer=layer)["encoding"] or "ISO-8859-1"
    except Exception:  # noqa: BLE001 - only used to word the message
        used = "ISO-8859-1"
    return used, ("as its .cpg says" if parts.cpg else "the Shapefile has no .cpg naming its encoding")


def _mis_decoded_problems(
    frame: pd.DataFrame, file: str, how: Callable[[], tuple[str, str]], *, not_valid: str = ""
) -> list[FeatureProblem]:
    """One problem per field whose text looks mis-decoded (:func:`mis_decoded_as` on at least half of
    its non-ASCII values), naming the first feature where it shows; one per mis-decoded field name.
    ``how()``: (the encoding the text was read in, why), asked only when something is found.
    ``not_valid``: the decoding error, when ``frame`` is a byte-for-byte (ISO-8859-1) re-reading of
    text that is not valid in that encoding."""
    geom_col = getattr(frame, "_geometry_column_name", None)
    problems: list[FeatureProblem] = []
    labels: list[str] | None = None
    how = functools.cache(how)  # it may open the file again: once at most

    def explain(shown: str, enc: str, fixed: str, share: str = "") -> str:
        used, why = how()
        if not_valid:
            return f"text is not valid {used} ({why}: {not_valid}); read as {enc} it is {fixed!r}: pass --encoding {enc}"
        return f"{shown!r} looks mis-decoded: read as {used} ({why}), its bytes spell {fixed!r} in {enc}{share}: pass --encoding {enc}"

    for col in [c for c in frame.columns if c != geom_col]:
        if isinstance(col, str) and (hit := mis_decoded_as(col)):
            problems.append(FeatureProblem(file, None, col, "the field name: " + explain(col, *hit)))
        if not (pd.api.types.is_object_dtype(frame[col].dtype) or pd.api.types.is_string_dtype(frame[col].dtype)):
            continue
        texts = [(i, v) for i, v in enumerate(frame[col].tolist()) if isinstance(v, str) and not v.isascii()]
        hits = [(i, v, h) for i, v in texts if (h := mis_decoded_as(v))]
        if hits and 2 * len(hits) >= len(texts):
            i, v, (enc, fixed) = hits[0]
            labels = labels or feature_labels(frame)
            share = f" ({len(hits)} of the field's {len(texts)} non-ASCII values look so)" if len(hits) > 1 else ""
            problems.append(FeatureProblem(file, labels[i], col, explain(v, enc, fixed, share)))
    return problems


def _undecodable_text_problems(src, layer, encoding, name, parts: _ShapefileParts, error: UnicodeDecodeError) -> list[FeatureProblem]:
    """The text is not valid in the encoding it was read with (``--encoding UTF-8``, or a .cpg that says
    so, on GBK text): read it again byte for byte (ISO-8859-1) to name the field, the first feature and
    the encoding that reads it."""
    how = _how_text_was_read(src, layer, encoding, parts)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = pyogrio.read_dataframe(src, layer=layer, encoding="ISO-8859-1", read_geometry=False)
    except Exception:  # noqa: BLE001 - fall back to the message without a feature
        raw = None
    found = _mis_decoded_problems(raw, name, lambda: how, not_valid=error.reason) if raw is not None else []
    return found or [FeatureProblem(name, None, None, f"its text is not valid {how[0]} ({how[1]}: {error}): pass "
                                                      "--encoding with the file's encoding, e.g. --encoding GBK")]


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
    repairs: list[str] | tuple[str, ...] = (),
) -> ImportReport:
    """Check (:func:`prepare_layer`) and store a frame as the current layer of its type. ``repairs``:
    what was already changed in the data while reading it (e.g. flattened to 2-D), reported first."""
    lt = _layer_type(layer_type, plan, source)
    file = file or source
    prepared, prep_repairs, prep_notes = prepare_layer(gdf, lt, plan.spatial, crs=crs, file=file)
    repairs = [*repairs, *prep_repairs]
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
    encoding: str | None = None,
    fields: Mapping[str, str] | Sequence[str] | None = None,
) -> ImportReport:
    """Import a vector file as the current layer of ``layer_type`` (its id, e.g. ``farmland``, or the
    plan's name, e.g. ``永久基本农田``), all or nothing. ``crs`` (``EPSG:…`` or ``gcj02``) overrides
    the file's CRS; ``encoding`` (a Shapefile's, e.g. ``GBK``) and ``fields`` (``["name=stop_name"]``)
    are as in :func:`read_layer_file`. Raises :class:`LayerImportError` naming the file, feature and
    field of every problem."""
    file, _member = split_layer_spec(path)
    lt = _layer_type(layer_type, plan, str(file))
    got = read_layer_file(path, encoding=encoding, fields=fields)
    return import_frame(
        got.frame, lt, store, plan, source=str(path), sha256=file_sha256(file), crs=crs, synthetic=synthetic,
        notes=[*notes, *got.notes], file=str(file), source_layer=got.source_layer, repairs=got.repairs,
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
