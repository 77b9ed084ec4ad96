"""The sample day shipped with geoverify (package data, so that an installed ``geoverify demo``
finds it wherever it runs): six grids in Dongsi, Dongcheng, Beijing, and one simulated day of
tracks, events and sites on 2026-11-02. ``grids/README.md`` and ``sample_tracks/README.md`` here
describe each file; in a checkout, ``grids/`` and ``sample_tracks/`` at the top link to them.

>>> GRIDS.name, GRIDS.is_file()
('dongcheng_sample.geojson', True)
"""

from __future__ import annotations

from pathlib import Path

#: The folder holding the samples (inside the installed package).
ROOT = Path(__file__).resolve().parent
GRIDS = ROOT / "grids" / "dongcheng_sample.geojson"
TRACKS = ROOT / "sample_tracks"
EVENTS = TRACKS / "events" / "events.csv"
SITES = TRACKS / "sites" / "sites.csv"
