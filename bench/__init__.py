"""Benchmarks: the figures behind the design's speed and memory targets, measured, not asserted."""
