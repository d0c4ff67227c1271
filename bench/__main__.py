"""Benchmarks: `make bench BENCH_ARGS="engine"` (see README, Performance).

Each benchmark runs against a throwaway PostgreSQL database next to the one DATABASE_URL
names (its name + "_bench"), created, migrated and dropped here."""

import argparse
import importlib
import sys

from bench import setup

BENCHMARKS = ("engine", "hosts", "pages", "ingestion", "transfers", "feeds")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("benchmark", choices=BENCHMARKS)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executions-total", type=int, default=100_000, help="pages: rows to list")
    parser.add_argument(
        "--rows",
        type=int,
        default=200_000,
        help="ingestion, transfers: rows per file; feeds: updates per feed (100,000)",
    )

    parser.add_argument(
        "--formats",
        nargs="+",
        choices=("csv", "jsonl", "parquet", "parquet-to-convert"),
        help="ingestion: only these formats (all by default)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="engine, ingestion, transfers, feeds: runs of each"
    )

    options = parser.parse_args(argv)
    with setup.throwaway_database():
        module = importlib.import_module(f"bench.{options.benchmark}")
        module.run(options)


if __name__ == "__main__":
    main(sys.argv[1:])
