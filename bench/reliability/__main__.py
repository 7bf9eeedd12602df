"""`python -m bench.reliability`."""

from bench.reliability.cli import main

main()
