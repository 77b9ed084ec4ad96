"""Query-string parsing shared by the list views: a bad value answers 400 naming the parameter."""

from __future__ import annotations

import datetime as dt
import math

from flask import abort, request


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer query parameter within bounds."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        abort(400, description=f"Query parameter '{name}' must be an integer, got {text!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        abort(400, description=f"Query parameter '{name}' must be {bound}, got {value}.")
    return value


def date_arg(name: str) -> str | None:
    """An ISO date (YYYY-MM-DD) query parameter."""
    text = request.args.get(name)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        abort(400, description=f"Query parameter '{name}' must be a date like 2026-11-02, got {text!r}.")


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    """A query parameter restricted to ``choices``."""
    text = request.args.get(name)
    if not text:
        return None
    if text not in choices:
        abort(400, description=f"Query parameter '{name}' must be one of {', '.join(choices)}, got {text!r}.")
    return text


def metres_arg(name: str, default: float, low: float, high: float) -> float:
    """A distance in metres from the query string, within ``[low, high]``."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        abort(400, description=f"Query parameter '{name}' must be a number of metres, got {text!r}.")
    if not (math.isfinite(value) and low <= value <= high):
        abort(400, description=f"Query parameter '{name}' must be between {low:g} and {high:g} metres, got {text!r}.")
    return value
