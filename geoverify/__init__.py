"""geoverify: verify grid workers' GPS patrols against grid polygons."""

__version__ = "0.1.0"
