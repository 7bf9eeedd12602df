"""Benchmarks: speed (bench/run, speed.py) and relevance (relevance.py) on the shared corpus."""

# imported first, as in the product, so that numpy's BLAS runs one thread (search/__init__.py)
import search  # noqa: F401
