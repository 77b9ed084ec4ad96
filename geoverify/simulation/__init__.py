"""Simulated GPS tracks: sample patrols for the demo and tests, bulk city days, what real phones do."""
