"""Coordinate reference systems of incoming layers: detect or require one, undo GCJ-02, check the
coordinates fall in the plan area, and transform to the storage CRS.

Supported inputs (anything else is refused rather than silently mis-projected):

- WGS 84 geographic (EPSG:4326, OGC:CRS84) and CGCS2000 geographic (EPSG:4490). CGCS2000 and
  WGS 84 differ by a few centimetres; pyproj treats them as the same datum, as surveying practice
  does at this scale.
- CGCS2000 Gauss-Kruger projections: 6-degree zones (EPSG:4491–4512) and 3-degree zones, with or
  without the zone prefix in the false easting (EPSG:4513–4554; EPSG:4547 is CM 114°E, 4548 CM 117°E).
- WGS 84 / Pseudo-Mercator (EPSG:3857) and WGS 84 / UTM zones 43N–53N (EPSG:32643–32653), common
  in exported web and remote-sensing data.
- GCJ-02 (``--crs gcj02``), the offset "Mars" coordinates of most Chinese web maps (AMap, Tencent,
  Google China). Converted to WGS 84 by inverting the published forward formula iteratively
  (:func:`gcj02_to_wgs84`, below a millimetre).

A 3D form of these (EPSG:4979 WGS 84 3D, which GDAL reports for RFC 7946 GeoJSON with heights;
EPSG:4480 CGCS2000 3D; a compound CRS with a vertical part) is read as its 2D CRS: the layers are
2-D, so heights are dropped (and said so).

Beijing 1954 and Xi'an 1980 need a local datum transformation whose parameters are not public,
so they are refused: reproject them to CGCS2000 first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

GCJ02 = "gcj02"
_GCJ02_NAMES = {"gcj02", "gcj-02", "gcj_02", "mars", "amap"}

SUPPORTED_HELP = (
    "EPSG:4326 (WGS 84), EPSG:4490 (CGCS2000), EPSG:4491–4554 (CGCS2000 Gauss-Kruger zones, e.g. EPSG:4548), "
    "EPSG:3857, EPSG:32643–32653 (UTM), or gcj02"
)


class CRSProblem(ValueError):
    """A CRS that is missing, unknown or unsupported; the message says which and what to do."""


@dataclass(frozen=True)
class SourceCRS:
    """The CRS an input's coordinates are in, as decided from the file and ``--crs``."""

    crs: pyproj.CRS  # for gcj02: WGS 84 (the coordinates become WGS 84 once the offset is undone)
    gcj02: bool = False
    note: str = ""  # e.g. "the file declares EPSG:4326; --crs gcj02 used as given"

    @property
    def label(self) -> str:
        return "GCJ-02" if self.gcj02 else crs_label(self.crs)


def crs_label(crs: pyproj.CRS | None) -> str:
    """``EPSG:4548`` when the CRS has an EPSG code, else its name."""
    if crs is None:
        return "none"
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg}"
    auth = crs.to_authority()
    return ":".join(auth) if auth else crs.name


def is_supported(crs: pyproj.CRS) -> bool:
    """Whether ``crs`` is one of the families in this module's docstring."""
    if crs.equals(pyproj.CRS("OGC:CRS84"), ignore_axis_order=True):
        return True
    epsg = crs.to_epsg()
    if epsg is None:
        return False
    return epsg in {4326, 4490, 3857} or 4491 <= epsg <= 4554 or 32643 <= epsg <= 32653


def horizontal_crs(crs: pyproj.CRS) -> tuple[pyproj.CRS, str]:
    """The 2D CRS of a 3D one (EPSG:4979 → EPSG:4326, EPSG:4480 → EPSG:4490, a compound CRS → its
    horizontal part) and a note saying so; a 2D CRS unchanged with no note."""
    if len(crs.axis_info) < 3 and not crs.is_compound:
        return crs, ""
    flat = crs.to_2d()
    for epsg in (4326, 4490):  # name the common ones by their code (to_2d keeps a nameless copy)
        if flat.equals(pyproj.CRS.from_epsg(epsg), ignore_axis_order=True):
            flat = pyproj.CRS.from_epsg(epsg)
    label = crs_label(crs) if crs_label(crs) == crs.name else f"{crs_label(crs)} ({crs.name})"
    return flat, f"{label} is 3D: read as {crs_label(flat)}, heights dropped (layers are 2-D)"


def parse_crs(text: str) -> SourceCRS:
    """Read a ``--crs`` value: ``EPSG:4548``, ``4548``, ``gcj02`` (also gcj-02, mars)."""
    t = text.strip()
    if t.lower() in _GCJ02_NAMES:
        return SourceCRS(pyproj.CRS.from_epsg(4326), gcj02=True)
    if t.lower() in {"bd09", "bd-09", "baidu"}:
        raise CRSProblem(f"--crs {text}: BD-09 (Baidu) coordinates are not supported; export GCJ-02 or WGS 84 instead")
    if t.isdigit():
        t = f"EPSG:{t}"
    try:
        crs = pyproj.CRS.from_user_input(t)
    except pyproj.exceptions.CRSError as e:
        raise CRSProblem(f"--crs {text}: not a CRS pyproj knows ({e}); supported: {SUPPORTED_HELP}") from e
    flat, note = horizontal_crs(crs)
    if not is_supported(flat):
        raise CRSProblem(f"--crs {text} ({crs.name}) is not supported; supported: {SUPPORTED_HELP}")
    return SourceCRS(flat, note=f"--crs {text}: {note}" if note else "")


def resolve_crs(file_crs: pyproj.CRS | None, given: str | None, *, file: str) -> SourceCRS:
    """Decide the CRS of a file's coordinates: ``given`` (``--crs``) wins over what the file declares;
    a file with no CRS and nothing given is refused. Unsupported CRSs are refused."""
    if given:
        chosen = parse_crs(given)
        if file_crs is not None and (chosen.gcj02 or not horizontal_crs(file_crs)[0].equals(chosen.crs, ignore_axis_order=True)):
            note = f"the file declares {crs_label(file_crs)}; --crs {given} used as given"
            return SourceCRS(chosen.crs, chosen.gcj02, f"{note}; {chosen.note}" if chosen.note else note)
        return chosen
    if file_crs is None:
        raise CRSProblem(
            f"{file}: the file has no CRS (a Shapefile without .prj, or a GeoParquet without crs); "
            f"give it with --crs, e.g. --crs EPSG:4326, --crs EPSG:4548 or --crs gcj02"
        )
    flat, note = horizontal_crs(file_crs)
    if not is_supported(flat):
        raise CRSProblem(
            f"{file}: its CRS {crs_label(file_crs)} ({file_crs.name}) is not supported; reproject it to CGCS2000 or "
            f"WGS 84 first, or override with --crs ({SUPPORTED_HELP})"
        )
    return SourceCRS(flat, note=f"the file's CRS {note}" if note else "")


# ------------------------------------------------------------------ GCJ-02

# GCJ-02's published forward formula (the "Mars" offset): Krasovsky 1940 ellipsoid constants.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The formula's own rectangle: outside it GCJ-02 equals WGS 84."""
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj02_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dlon, dlat) in degrees that GCJ-02 adds to a WGS 84 position (zero outside China)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrtmagic) * pi)
    dlon = dlon * 180.0 / (_GCJ_A / sqrtmagic * np.cos(radlat) * pi)
    out = _outside_china(lon, lat)
    return np.where(out, 0.0, dlon), np.where(out, 0.0, dlat)


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 → GCJ-02 (degrees, arrays or scalars), the published forward formula."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _gcj02_offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, *, tol_deg: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS 84 (degrees), inverting :func:`wgs84_to_gcj02` by fixed-point iteration until the
    forward image is within ``tol_deg`` (1e-10° ≈ 0.01 mm) of the input. The offset varies slowly
    (its Jacobian is close to the identity), so 3–5 iterations suffice."""
    glon = np.asarray(lon, dtype=float)
    glat = np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon = wlon - elon
        wlat = wlat - elat
        if np.all(np.abs(elon[np.isfinite(elon)]) < tol_deg) and np.all(np.abs(elat[np.isfinite(elat)]) < tol_deg):
            break
    return wlon, wlat


def gcj02_geometries_to_wgs84(geoms: np.ndarray) -> np.ndarray:
    """Every vertex of an array of shapely geometries from GCJ-02 to WGS 84 (x = lon, y = lat)."""

    def _convert(xy: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, _convert)


# ------------------------------------------------------------------ plan-area checks


def to_wgs84_transformer(crs: pyproj.CRS) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def inside_bounds(lon: np.ndarray, lat: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    lon_min, lat_min, lon_max, lat_max = bounds
    with np.errstate(invalid="ignore"):
        return (lon >= lon_min) & (lon <= lon_max) & (lat >= lat_min) & (lat <= lat_max)


def looks_projected(x: np.ndarray, y: np.ndarray) -> bool:
    """Coordinates too large to be degrees: metres in a projected CRS."""
    finite = np.isfinite(x) & np.isfinite(y)
    return bool(finite.any() and (np.abs(x[finite]).max() > 360 or np.abs(y[finite]).max() > 180))
