"""Measures of a day track against its grid: in-grid time, coverage, site visits, the heat map."""
