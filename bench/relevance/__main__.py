"""`python -m bench.relevance`."""

from bench.relevance.cli import main

main()
