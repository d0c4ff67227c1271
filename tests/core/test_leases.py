"""Heartbeats from loops that check in far more often than a lease needs."""

from apps.core import leases


def test_a_throttled_heartbeat_beats_once_per_interval_after_the_claim(settings):
    beats = []
    heartbeat = leases.throttled(lambda: beats.append(1))
    settings.LEASE_HEARTBEAT_SECONDS = 3600
    for _ in range(20):  # twenty blocks of a file, read in well under an hour
        heartbeat()
    assert beats == []  # the claim was the last heartbeat
    settings.LEASE_HEARTBEAT_SECONDS = 0
    heartbeat()
    heartbeat()
    assert beats == [1, 1]
