"""Helpers the benchmarks share: the machine and versions a report names, timing statistics, and
(in their own modules) the corpus, servers and load, and STARD's articles as Markdown. Imports
the library (search/) and nothing of a benchmark."""
