"""Benchmarks on the shared corpus, one entry point each (`python -m bench.<name> --help`): speed
(also `bench/run`), scaling, during_pass, relevance, policy_pool, related_words, reliability, soak,
corpus and api_snapshot. What they share (corpus, query sets, servers and load, machine, results)
is in bench/common. A few build on another's parts: scaling on speed's, soak on soak_feed and
reliability's workload, relevance on policy_pool."""

# imported first, as in the product, so that numpy's BLAS runs one thread (search/__init__.py)
import search  # noqa: F401
