"""Geometry shared by every stage: local metric projections, grids, rasters, the Chinese map coordinates."""
