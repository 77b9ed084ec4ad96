"""Detectors of one patrol's motion flags, all read from one motion model.

* :mod:`~geoverify.detectors.glitches` — stage 1: position glitches (GPS_OUTLIER) and the jumps
  the track does not come back from (TELEPORT candidates);
* :mod:`~geoverify.detectors.motion` — stage 2: each remaining segment labelled still, on foot,
  cycling or vehicle, time-weighted;
* :mod:`~geoverify.detectors.jumps` — GPS_OUTLIER and TELEPORT flags;
* :mod:`~geoverify.detectors.stays` — IDLE and LOOP;
* :mod:`~geoverify.detectors.vehicle` — VEHICLE.

``docs/motion.md`` explains the model and the figures behind its thresholds.
"""
