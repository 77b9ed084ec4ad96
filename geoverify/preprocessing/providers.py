"""Which fixes report a network (cell or Wi-Fi) position rather than a satellite fix.

The motion model treats a jump to or from such a fix as a position glitch (spec "GPS outlier");
the day tracks mark them once, when they are cut (:mod:`geoverify.preprocessing.days`).
"""

from __future__ import annotations

import numpy as np

NETWORK_PROVIDERS = frozenset({"network", "cell", "wifi", "cellular", "wlan"})


def network_fixes(provider: np.ndarray | None, accuracy: np.ndarray) -> np.ndarray:
    """Fixes that report a network (cell or Wi-Fi) position rather than a satellite fix.

    Parameters
    ----------
    provider : numpy.ndarray, optional
        Each fix's provider (str; None or NaN unknown), or already a boolean array saying which
        fixes name a network provider (:func:`network_provider`).
    accuracy : numpy.ndarray
        Reported accuracy in metres, NaN unknown; exactly 0 is what phones report for a network
        position.
    """
    net = np.asarray(accuracy) == 0.0
    if provider is not None and len(provider):
        provider = np.asarray(provider)
        net |= provider if provider.dtype == bool else network_provider(provider)
    return net


def network_provider(values) -> np.ndarray:
    """Whether each provider name (any case; None or NaN unknown) is one of :data:`NETWORK_PROVIDERS`."""
    return np.array([isinstance(p, str) and p.strip().lower() in NETWORK_PROVIDERS for p in values], dtype=bool)
