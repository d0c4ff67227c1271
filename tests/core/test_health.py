"""/healthz as a load balancer reads it: 200 when the database, Redis and the storage
answer, 503 naming what fails — and never a secret, whatever fails."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_healthy_process_answers_ok_without_logging_in(client, settings):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    expected = {"database": "ok", "storage": "ok"} | ({"redis": "ok"} if settings.REDIS_URL else {})
    assert answer.json() == {"status": "ok", "checks": expected}
    assert answer["Cache-Control"].startswith("max-age=0")


def test_redis_out_of_reach_is_503_naming_it_and_nothing_of_its_address(client, settings):
    settings.REDIS_URL = "redis://:hunter2-password@127.0.0.1:1/0"  # nothing listens there
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "unavailable"
    assert answer.json()["checks"]["redis"] == "failing"
    assert answer.json()["checks"]["database"] == "ok"
    assert "hunter2" not in answer.text and "127.0.0.1" not in answer.text


def test_a_storage_folder_that_cannot_be_there_is_503(client, tmp_path, settings):
    in_the_way = tmp_path / "media"
    in_the_way.write_text("a file where the uploads folder should be")
    settings.MEDIA_ROOT = str(in_the_way)  # the default storage follows the setting
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["storage"] == "failing"


def test_only_reads_are_answered(client):
    assert client.post("/healthz").status_code == 405
