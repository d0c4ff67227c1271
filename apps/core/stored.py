"""Reading what the product stored — batch files, staged Parquet — through Arrow's own
file systems: the local folder of the embedded default, or the S3 bucket (Arrow's S3
client, configured from the same settings as django-storages). Readers get a file they
can stream or seek in by ranges, so nothing is copied whole to local disk first, and
DuckDB scans staged Parquet in the bucket through the same Arrow datasets.

Writing stays with Django's storage (default_storage), which also names the files."""

from functools import cache
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as pa_dataset
import pyarrow.fs as pa_fs
from django.conf import settings
from django.core.files.storage import default_storage


def open_stored(name: str) -> pa.NativeFile:
    """A stored file, for reading: sequentially (CSV, JSON) or by ranges (Parquet)."""
    file_system, (path,) = located([name])
    return file_system.open_input_file(path)


def parquet_dataset(names: list[str], schema: pa.Schema) -> pa_dataset.Dataset:
    """Stored Parquet files as one Arrow dataset of `schema`, read lazily where they are."""
    file_system, paths = located(names)
    return pa_dataset.dataset(paths, schema=schema, format="parquet", filesystem=file_system)


def located(names: list[str]) -> tuple[pa_fs.FileSystem, list[str]]:
    """The file system stored files are on, and their paths in it."""
    if not settings.S3_BUCKET:
        return pa_fs.LocalFileSystem(), [default_storage.path(name) for name in names]
    options = settings.S3_OPTIONS
    prefix = "/".join(part for part in (options["bucket_name"], options["location"]) if part)
    return _s3(*(options[key] for key in S3_KEYS)), [f"{prefix}/{name}" for name in names]


S3_KEYS = ("endpoint_url", "region_name", "access_key", "secret_key", "addressing_style")


@cache  # one client per configuration, as django-storages keeps one connection
def _s3(endpoint_url, region_name, access_key, secret_key, addressing_style) -> pa_fs.S3FileSystem:
    endpoint = urlparse(endpoint_url) if endpoint_url else None
    return pa_fs.S3FileSystem(
        access_key=access_key,  # None: the AWS SDK's own chain (variables, instance role)
        secret_key=secret_key,
        region=region_name,
        endpoint_override=endpoint.netloc if endpoint else None,
        scheme=endpoint.scheme if endpoint else "https",
        force_virtual_addressing=addressing_style == "virtual",
    )
