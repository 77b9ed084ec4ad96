"""GPX 1.0/1.1 track points, parsed without entity expansion or external resources."""

from __future__ import annotations

import xml.sax
from pathlib import Path

import defusedxml
import defusedxml.sax
import numpy as np
import pandas as pd

from geoverify.errors import InputError
from geoverify.io.tables import PointTable, normalise_crs_name
from geoverify.schema import id_problem

# Child elements of <trkpt> (or its <extensions>) that we read, by local name.
_FIELDS = {
    "time": "time",
    "accuracy": "accuracy",
    "hacc": "accuracy",
    "horizontal_accuracy": "accuracy",
    "speed": "speed",
    "provider": "provider",
    "mock": "mock",
    "device_id": "device_id",
}
_CRS_ELEMENTS = ("crs", "coordinate_system")


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1].rsplit("}", 1)[-1].lower()


class _TrackPointHandler(xml.sax.ContentHandler):
    """Collects every <trkpt> with its line number; remembers a declared coordinate system."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict] = []
        self.lines: list[int] = []
        self.declared: str | None = None
        self._point: dict | None = None
        self._field: str | None = None
        self._text: list[str] = []
        self._in_metadata = 0
        self._locator = None

    def setDocumentLocator(self, locator):  # noqa: N802 -- SAX's method name
        self._locator = locator

    def startElement(self, name, attrs):  # noqa: N802 -- SAX's method name
        local = _local(name)
        if local == "metadata":
            self._in_metadata += 1
        if local == "trkpt":
            self._point = {"lat": attrs.get("lat"), "lon": attrs.get("lon")}
            self.rows.append(self._point)
            self.lines.append(self._locator.getLineNumber() if self._locator else len(self.rows))
        elif self._point is not None and local in _FIELDS:
            self._field, self._text = _FIELDS[local], []
        elif self._in_metadata and local in _CRS_ELEMENTS:
            self._field, self._text = "__crs__", []

    def characters(self, content):
        if self._field is not None:
            self._text.append(content)

    def endElement(self, name):  # noqa: N802 -- SAX's method name
        local = _local(name)
        if self._field is not None and (
            _FIELDS.get(local) == self._field or (self._field == "__crs__" and local in _CRS_ELEMENTS)
        ):
            value = "".join(self._text).strip()
            if self._field == "__crs__":
                self.declared = value
            elif self._point is not None:  # always inside a trkpt: fields are only read there
                self._point[self._field] = value
            self._field = None
        if local == "trkpt":
            self._point = None
        elif local == "metadata":
            self._in_metadata -= 1


def read_gpx_table(path: str | Path, member_id: str | None = None) -> PointTable:
    """Read the track points of a GPX file.

    Parameters
    ----------
    path : path
        A GPX 1.0 or 1.1 file. DTDs, entity declarations and external references are
        refused (an :class:`InputError`), so a hostile file cannot expand or fetch anything.
    member_id : str, optional
        The member whose track this is; GPX has no member field, so by default the file
        name's stem is used (``M001.gpx`` → ``M001``). A stem that is not a usable id (see
        :func:`geoverify.schema.id_problem`) is an :class:`InputError`.

    Returns
    -------
    PointTable
        One row per ``<trkpt>`` with ``lon``, ``lat``, ``time`` and any of ``accuracy``,
        ``speed``, ``provider``, ``mock``, ``device_id`` found in the point or its
        extensions; ``lines`` holds each point's line in the file.
    """
    path = Path(path)
    source = str(path)
    if member_id is None:
        problem = id_problem(path.stem)
        if problem or not path.stem.strip():
            raise InputError(
                f"the file name's stem {path.stem[:40]!r} is not a usable member id "
                f"({problem or 'it is blank'}); rename the file or give the member id "
                "(--member-id)",
                source=source,
            )
    handler = _TrackPointHandler()
    parser = defusedxml.sax.make_parser()
    parser.forbid_dtd, parser.forbid_entities, parser.forbid_external = True, True, True
    parser.setContentHandler(handler)
    try:
        parser.parse(str(path))
    except defusedxml.DefusedXmlException as exc:
        raise InputError(
            f"refused: the GPX declares a DTD, entities or external references ({exc}); "
            "export it again without a DOCTYPE",
            source=source,
        ) from None
    except xml.sax.SAXParseException as exc:
        raise InputError(f"not well-formed XML: {exc.getMessage()}", source=source, line=exc.getLineNumber()) from None
    except FileNotFoundError:
        raise InputError("file not found", source=source) from None
    frame = pd.DataFrame.from_records(handler.rows) if handler.rows else pd.DataFrame(columns=["lon", "lat", "time"])
    if "time" not in frame.columns:
        frame["time"] = None
    frame["member_id"] = member_id if member_id is not None else path.stem
    declared = normalise_crs_name(handler.declared, source) if handler.declared else None
    return PointTable(
        frame=frame, lines=np.asarray(handler.lines, dtype=np.int64), source=source, declared_crs=declared
    )
