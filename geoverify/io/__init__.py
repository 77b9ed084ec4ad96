"""Readers for grids, tracks, events and sites."""

from .grids import read_grids
from .reports import read_events, read_sites
from .tracks import read_track_file, read_tracks

__all__ = ["read_grids", "read_tracks", "read_track_file", "read_events", "read_sites"]
