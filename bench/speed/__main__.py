"""`python -m bench.speed`: the same as `bench/run`."""

from bench.speed.cli import main

main(prog="python -m bench.speed")
