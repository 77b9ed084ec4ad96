"""Reading grid polygons from GeoJSON, GeoPackage or Shapefile, repairing what can be repaired."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

from geoverify import settings
from geoverify.errors import GeoverifyWarning, GridGeometryError, InputError
from geoverify.geo.chinacrs import to_wgs84
from geoverify.geo.grid import Grid
from geoverify.geo.projection import LocalProjection
from geoverify.io.jsondepth import check_json_file_depth
from geoverify.io.tables import normalise_crs_name, resolve_columns
from geoverify.schema import GRID_OPTIONAL, GRID_REQUIRED, id_problem

# A repair (make_valid) may change a polygon's area by at most this share; more is an error.
MAX_REPAIR_AREA_CHANGE = 0.01
GRID_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip")
# Vertices of one grid. A grid of a few hundred metres drawn to 0.1 m needs a few thousand. A
# million-vertex polygon is refused as soon as GDAL has read it (about 5 s for its 40 MB of
# GeoJSON), before it is validated, repaired, rasterised or measured.
MAX_GRID_VERTICES = 250_000


GRID_FORMATS = (
    "grids are read from GeoJSON (.geojson, .json), GeoPackage (.gpkg) or Shapefile (.shp, or a .zip holding one)"
)
_FORMAT_NAMES = {
    ".geojson": "a GeoJSON file",
    ".json": "a GeoJSON file",
    ".gpkg": "a GeoPackage",
    ".shp": "a Shapefile",
    ".zip": "a zipped Shapefile",
}


def _format_name(suffix: str) -> str:
    return f"a {suffix} file" if suffix else "a file without an extension"


def _unreadable(suffix: str, exc: Exception) -> str:
    """Why GDAL could not read a grid file, in plain words (driver internals, e.g. SQL, left out)."""
    name = _FORMAT_NAMES.get(suffix, "a grid file")
    if suffix == ".gpkg":
        return (
            "is not a GeoPackage, or a damaged one (it could not be opened as a GeoPackage database); "
            f"save the grids again from the GIS, or send them as GeoJSON; {GRID_FORMATS}"
        )
    text = str(exc).split("; It might help", 1)[0].strip().rstrip(".")
    if "not recognized as being in a supported file format" in text or "not recognized as a supported" in text:
        return f"is not {name} (its content is not recognised as one); {GRID_FORMATS}"
    return f"cannot be read as {name} ({text[:200]}); {GRID_FORMATS}"


def _check_table_size(path: Path, layer: str | None) -> None:
    """Refuse a grid file whose features and distinct properties would make too large a table.

    GDAL lays the properties out as a table with one value for every feature and every property
    name used by any feature: a few hundred kilobytes of features, each with a name of its own,
    would cost minutes and gigabytes. The counts come from GDAL's summary of the file, read
    before the features (a file it cannot summarise is left to the reader to report).

    Raises
    ------
    InputError
        Over :data:`geoverify.settings.MAX_TABLE_COLUMNS` properties, or over
        :data:`geoverify.settings.MAX_TABLE_CELLS` features × properties.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            info = pyogrio.read_info(path, layer=layer)
    except Exception:  # noqa: BLE001 -- a damaged file: read_file reports it
        return
    fields, features = len(info.get("fields", ())), max(int(info.get("features") or 0), 0)
    advice = (
        "keep the properties geoverify reads (grid_id, name, grid_type, members) and a few others, and drop the rest"
    )
    if fields > settings.MAX_TABLE_COLUMNS:
        raise InputError(
            f"the grid file's features have {fields} distinct properties between them; at most "
            f"{settings.MAX_TABLE_COLUMNS} are read: {advice}",
            source=str(path),
        )
    if fields * features > settings.MAX_TABLE_CELLS:
        raise InputError(
            f"the grid file's {features} features have {fields} distinct properties between them, "
            f"{fields * features} values to lay out; at most {settings.MAX_TABLE_CELLS}: {advice}",
            source=str(path),
        )


def _polygon_layer(path: Path) -> str | None:
    """The first layer of a GeoPackage holding polygons (None: let the reader report the file).

    Raises
    ------
    InputError
        When the GeoPackage has no polygon layer, naming the layers it has.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes on a file that is not a GeoPackage
            layers = pyogrio.list_layers(path)
    except Exception:  # noqa: BLE001 -- a damaged file: read_file reports it
        return None
    polygons = [str(name) for name, kind in layers if kind and "POLYGON" in str(kind).upper()]
    if polygons:
        return polygons[0]
    found = ", ".join(f"{name} ({kind or 'no geometry'})" for name, kind in layers[:10]) or "none"
    raise InputError(
        f"the GeoPackage holds no polygon layer (layers: {found}); save the grids as a Polygon or MultiPolygon layer",
        source=str(path),
    )


def _id_text(value, what: str, source: str, feature: int) -> str:
    """A grid or member id from a GIS attribute, as text; numbers keep their integer form."""
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or not float(value).is_integer() or abs(float(value)) >= 2**53:
            raise InputError(
                f"{what} {value!r} is a number that cannot be kept exactly; write it as a string",
                source=source,
                feature=feature,
            )
        value = int(value)
    text = str(value).strip()
    problem = id_problem(text)
    if problem:
        raise InputError(
            f"{what} {text[:40]!r}{'…' if len(text) > 40 else ''} {problem}; use a short printable id",
            source=source,
            feature=feature,
        )
    return text


def _parse_members(value, source: str, grid_id: str, feature: int) -> tuple[str, ...]:
    """Members as a JSON list, or a string: JSON list text or ids separated by , ; or white space."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                raise InputError(
                    f"grid {grid_id!r}: 'members' looks like a JSON list but is not valid JSON", source=source
                ) from None
        else:
            items = [text]
    else:
        items = [value]
    # A GDAL string list may hold "M1, M2" in one item when features mix lists and strings.
    parts = [p for item in items for p in re.split(r"[,;\s]+", str(item))]
    return tuple(_id_text(p, f"grid {grid_id!r}: member id", source, feature) for p in parts if p)


def _is_geojson(path: Path) -> bool:
    return path.suffix.lower() in (".geojson", ".json")


def _check_geojson_object(path: Path) -> None:
    """Refuse a GeoJSON file whose document is not a JSON object, or nests deeper than
    :data:`geoverify.settings.MAX_JSON_DEPTH`, before GDAL guesses at it."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        kind = (
            "empty"
            if not head
            else "a JSON array"
            if head.startswith(b"[")
            else "a JSON string"
            if head.startswith(b'"')
            else "not a JSON object"
        )
        raise InputError(
            f"the document is {kind}; a grid file is a GeoJSON FeatureCollection of Polygon "
            "features with a grid_id property",
            source=str(path),
        )
    check_json_file_depth(path)


def _geojson_document(path: Path):
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None  # the GDAL reader reports the problem with more detail


def _declared_geojson_crs(path: Path) -> str | None:
    """A GeoJSON grid file may declare GCJ-02/BD-09 with a top-level ``coordinate_system`` member.

    The file is parsed again only when it holds that name at all (a large file is not read twice).
    """
    if not _is_geojson(path):
        return None
    key, tail, mentioned = b'"coordinate_system"', b"", False
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            if key in tail + chunk[: len(key)] or key in chunk:
                mentioned = True
                break
            tail = chunk[-len(key) :]
    if not mentioned:
        return None
    document = _geojson_document(path)
    if isinstance(document, dict) and "coordinate_system" in document:
        return normalise_crs_name(document["coordinate_system"], str(path))
    return None


def _not_a_feature_collection(path: Path) -> str:
    """What a GeoJSON grid file without grid ids holds instead, for the error message."""
    document = _geojson_document(path) if _is_geojson(path) else None
    kind = document.get("type") if isinstance(document, dict) else None
    if kind == "FeatureCollection" or kind is None:
        return ""
    if kind == "Feature":
        return " (the file is a single Feature; put it in a FeatureCollection)"
    return f" (the file is a bare {kind} geometry; wrap it in a Feature with a grid_id property)"


def _to_lonlat_frame(frame: gpd.GeoDataFrame, source: str) -> gpd.GeoDataFrame:
    if frame.crs is not None and frame.crs.is_projected:
        frame = frame.to_crs(4326)
    minx, miny, maxx, maxy = frame.total_bounds if len(frame) else (0, 0, 0, 0)
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InputError(
            "coordinates are not longitude/latitude and the file names no projected CRS; "
            "add a 'crs' member naming it or save the file in WGS-84 (EPSG:4326)",
            source=source,
        )
    if frame.crs is None:
        return frame.set_crs(4326)
    return frame if frame.crs.to_epsg() == 4326 or frame.crs.equals("OGC:CRS84") else frame.to_crs(4326)


def _repair(geom: BaseGeometry | None, grid_id: str, source: str, feature: int):
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        raise GridGeometryError(f"grid {grid_id!r} has no geometry; give it a Polygon", source=source, feature=feature)
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise GridGeometryError(
            f"grid {grid_id!r} is a {geom.geom_type}; grids must be Polygon or MultiPolygon",
            source=source,
            feature=feature,
        )
    vertices = shapely.get_num_coordinates(geom)
    if vertices > MAX_GRID_VERTICES:
        raise GridGeometryError(
            f"grid {grid_id!r} has {vertices:,} vertices, over the limit of {MAX_GRID_VERTICES:,}; simplify "
            "it (e.g. ogr2ogr -simplify 0.00001, about 1 m) and load it again",
            source=source,
            feature=feature,
        )
    if not np.isfinite(shapely.get_coordinates(geom)).all():
        raise GridGeometryError(
            f"grid {grid_id!r} has NaN or infinite coordinates; fix the polygon in a GIS",
            source=source,
            feature=feature,
        )
    if geom.is_valid:
        return geom
    reason = shapely.is_valid_reason(geom)
    c = geom.representative_point()  # not empty: refused above
    proj = LocalProjection(c.x, c.y)
    fwd = lambda xy: np.column_stack(proj.forward(xy[:, 0], xy[:, 1]))  # noqa: E731 -- a local one-liner
    before = shapely.transform(geom, fwd).area
    fixed = shapely.make_valid(geom)
    polys = [g for g in shapely.get_parts(fixed) if g.geom_type in ("Polygon", "MultiPolygon")]
    fixed = shapely.union_all(polys) if polys else shapely.Polygon()
    after = shapely.transform(fixed, fwd).area if not fixed.is_empty else 0.0
    change = abs(after - before) / before if before > 0 else np.inf
    if fixed.is_empty or change > MAX_REPAIR_AREA_CHANGE:
        # A ring crossing itself (a bow-tie) has lobes of opposite sign: its area as drawn may be ~0.
        pct = f"{change:.1%}" if change <= 10 else "more than tenfold"
        raise GridGeometryError(
            f"grid {grid_id!r} is invalid ({reason}); repairing it would change its area from {before:,.0f} m² "
            f"to {after:,.0f} m², {pct} (over {MAX_REPAIR_AREA_CHANGE:.0%}); fix the polygon in a GIS",
            source=source,
            feature=feature,
        )
    warnings.warn(
        f"{source}: grid {grid_id!r} was invalid ({reason}); repaired with make_valid, area "
        f"changed by {change:.3%} ({after - before:+.1f} m²)",
        GeoverifyWarning,
        stacklevel=3,
    )
    return fixed


def read_grids(path: str | Path, *, crs: str | None = None, layer: str | None = None) -> list[Grid]:
    """Read grid polygons into :class:`~geoverify.geo.grid.Grid` objects in WGS-84.

    Parameters
    ----------
    path : path
        GeoJSON (RFC 7946, or with a legacy ``crs`` member naming any CRS, projected ones
        included), GeoPackage, or Shapefile.
    crs : {"wgs84", "gcj02", "bd09"}, optional
        Coordinate system of lon/lat coordinates when the file was drawn on a Chinese map;
        a GeoJSON top-level ``coordinate_system`` member says the same.
    layer : str, optional
        GeoPackage layer (default: the first).

    Raises
    ------
    InputError
        When the file cannot be read, is not a GeoJSON object, holds no features, lacks
        ``grid_id``, repeats a ``grid_id``, or has a grid or member id that is longer than
        :data:`MAX_ID_CHARS` or holds control characters (see :func:`id_problem`).
    GridGeometryError
        When a grid has no usable polygon (missing, empty, not a (Multi)Polygon, NaN or
        infinite coordinates, more than :data:`MAX_GRID_VERTICES` vertices) or its repair
        would change its area by more than 1 %. A smaller repair gives a
        :class:`GeoverifyWarning` naming the grid.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError("grid file not found", source=source)
    if path.is_dir():
        raise InputError("is a folder; give a grid file", source=source)
    suffix = path.suffix.lower()
    if suffix not in GRID_SUFFIXES:
        raise InputError(
            f"{_format_name(suffix)} is not a grid format; {GRID_FORMATS}"
            + (
                " (a CSV holds no polygons: export the grids from the GIS as GeoJSON)"
                if suffix in (".csv", ".tsv")
                else ""
            ),
            source=source,
        )
    if _is_geojson(path):
        _check_geojson_object(path)
    if suffix == ".gpkg" and layer is None:
        layer = _polygon_layer(path)
    if _is_geojson(path):  # properties are sparse only in GeoJSON: elsewhere the table is the file's size
        _check_table_size(path, layer)
    try:
        with warnings.catch_warnings():
            # NaN coordinates warn in shapely's WKB reader; _repair names the grid instead.
            warnings.filterwarnings("ignore", "invalid value encountered in from_wkb", RuntimeWarning)
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="pyogrio")
            frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 -- pyogrio/GDAL raise their own error types
        raise InputError(_unreadable(suffix, exc), source=source) from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(
            f"the file holds no geometry, only a table of attributes; {GRID_FORMATS}, with Polygon features",
            source=source,
        )
    declared = _declared_geojson_crs(path) or (normalise_crs_name(crs, "--grids-crs") if crs else "wgs84")
    frame = _to_lonlat_frame(frame, source)
    if not len(frame):
        raise InputError("the grid file holds no features" + _not_a_feature_collection(path), source=source)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    mapping = resolve_columns(columns, GRID_REQUIRED + GRID_OPTIONAL, source)
    if "grid_id" not in mapping:
        raise InputError(
            f"grid file lacks a 'grid_id' property (found: {', '.join(columns) or 'none'}); "
            f"give every feature a unique grid_id{_not_a_feature_collection(path)}",
            source=source,
        )
    grids: list[Grid] = []
    seen: dict[str, int] = {}
    for number, (_, row) in enumerate(frame.iterrows(), start=1):
        raw_id = row[mapping["grid_id"]]
        if raw_id is None or (isinstance(raw_id, float) and np.isnan(raw_id)) or not str(raw_id).strip():
            raise InputError("has no grid_id; give every grid a unique grid_id", source=source, feature=number)
        grid_id = _id_text(raw_id, "grid_id", source, number)
        if grid_id in seen:
            raise InputError(
                f"grid_id {grid_id!r} repeats feature {seen[grid_id]}; grid ids must be unique",
                source=source,
                feature=number,
            )
        seen[grid_id] = number
        geom = row[frame.geometry.name]  # type: ignore[call-overload]  # pandas-stubs: a label is any Hashable
        if declared != "wgs84" and geom is not None:
            geom = shapely.transform(geom, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], declared)))
        geom = _repair(geom, grid_id, source, number)

        def text(key, row=row):
            value = row[mapping[key]] if key in mapping else None
            return None if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)

        members = _parse_members(row[mapping["members"]], source, grid_id, number) if "members" in mapping else ()
        extra = {c: row[c] for c in columns if c not in mapping.values()}
        grids.append(
            Grid(
                grid_id=grid_id,
                geometry_wgs84=geom,
                name=text("name"),
                grid_type=text("grid_type"),
                members=members,
                properties=extra,
            )
        )
    if not grids:
        raise InputError("the grid file holds no features", source=source)
    return grids
