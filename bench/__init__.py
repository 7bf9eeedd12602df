"""Benchmarks: speed (bench/run, speed.py) and relevance (relevance.py) on the shared corpus."""
