"""Evaluation: pure progress methods (progress, opensdg, bounds, forecast) combined by ``engine``."""

from planwatch.evaluate.engine import checkup, evaluate_frame, explain, forecasts, rollup

__all__ = ["checkup", "evaluate_frame", "explain", "forecasts", "rollup"]
