"""Readers for grids, tracks, events and sites."""

from geoverify.io.grids import read_grids
from geoverify.io.reports import read_events, read_sites
from geoverify.io.tracks import read_track_file, read_tracks

__all__ = ["read_grids", "read_tracks", "read_track_file", "read_events", "read_sites"]
