"""A real S3-compatible server (moto's, over HTTP on a local port) and the settings that
point the product's storage at a fresh bucket in it."""

import uuid

import boto3
import pytest

from tests.processes import free_port

CREDENTIALS = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}


@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


class Bucket:
    def __init__(self, endpoint: str, name: str, prefix: str):
        self.endpoint, self.name, self.prefix = endpoint, name, prefix
        self.client = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS
        )
        self.client.create_bucket(Bucket=name)

    def stored_keys(self) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    def environment(self) -> dict[str, str]:
        """What a process on another host needs to use this bucket."""
        return {
            "BATCHWORKS_S3_BUCKET": self.name,
            "BATCHWORKS_S3_ENDPOINT_URL": self.endpoint,
            "BATCHWORKS_S3_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "BATCHWORKS_S3_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "BATCHWORKS_S3_PREFIX": self.prefix,
        }


@pytest.fixture
def bucket(s3_server, settings, tmp_path) -> Bucket:
    """The default storage in a new bucket, under a prefix; MEDIA_ROOT a folder that must
    stay empty."""
    bucket = Bucket(s3_server, f"batchworks-{uuid.uuid4().hex[:12]}", "tenant-a")
    options = {
        **settings.S3_OPTIONS,
        "bucket_name": bucket.name,
        "endpoint_url": s3_server,
        "access_key": CREDENTIALS["aws_access_key_id"],
        "secret_key": CREDENTIALS["aws_secret_access_key"],
        "location": bucket.prefix,
    }
    settings.S3_BUCKET, settings.S3_OPTIONS = bucket.name, options
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
    }
    settings.MEDIA_ROOT = tmp_path / "media-must-stay-empty"
    return bucket
