"""Figures over repeated timings: percentiles, a millisecond summary, a median with its spread."""

from __future__ import annotations

import statistics


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: list[float]) -> dict:
    """p50, p95, p99 and count of latencies given in seconds, in milliseconds."""
    return {
        "n": len(seconds),
        "p50": percentile(seconds, 50) * 1000,
        "p95": percentile(seconds, 95) * 1000,
        "p99": percentile(seconds, 99) * 1000,
    }


def median_spread(values: list[float]) -> dict:
    """Median and interquartile range (min and max when fewer than 4 values)."""
    if not values:
        return {"n": 0, "median": float("nan"), "low": float("nan"), "high": float("nan")}
    if len(values) >= 4:
        low, high = percentile(values, 25), percentile(values, 75)
    else:
        low, high = min(values), max(values)
    return {"n": len(values), "median": statistics.median(values), "low": low, "high": high}
