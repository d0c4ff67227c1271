"""A throwaway PostgreSQL database for a benchmark run, and small measuring helpers."""

import os
import statistics
import time
from contextlib import contextmanager

import django
import environ


@contextmanager
def throwaway_database():
    """Point Django at a new database beside DATABASE_URL's, migrate it, drop it after."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Benchmarks need PostgreSQL: set DATABASE_URL=postgres://…")
    config = environ.Env.db_url_config(url)
    name = f"{config['NAME']}_bench"
    os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + f"/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    admin = _server_connection(config)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield
    finally:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _server_connection(config):
    import psycopg

    return psycopg.connect(
        dbname="postgres",
        user=config["USER"],
        password=config["PASSWORD"] or None,
        host=config["HOST"] or None,
        port=config["PORT"] or None,
        autocommit=True,
    )


def median_and_p95(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


@contextmanager
def stopwatch():
    elapsed = {}
    start = time.perf_counter()
    yield elapsed
    elapsed["seconds"] = time.perf_counter() - start


@contextmanager
def counting_queries():
    """How many queries the block runs: counted by a bare execute wrapper, since Django's
    CaptureQueriesContext formats every statement's SQL, which the timings would pay for
    (0.2 s of a first tick's 2)."""
    from django.db import connection

    counted = {"queries": 0}

    def count(execute, sql, params, many, context):
        counted["queries"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        yield counted
