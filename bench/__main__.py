"""Benchmarks: `make bench BENCH_ARGS="engine"` (see README, Performance).

Each benchmark runs against a throwaway PostgreSQL database next to the one DATABASE_URL
names (its name + "_bench"), created, migrated and dropped here."""

import argparse
import sys

from bench import setup

BENCHMARKS = ("engine",)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("benchmark", choices=BENCHMARKS)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args(argv)
    with setup.throwaway_database():
        from bench import engine

        engine.run(options)


if __name__ == "__main__":
    main(sys.argv[1:])
