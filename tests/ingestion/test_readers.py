"""Reading ahead: blocks parsed on a thread of their own while the last is converted."""

import threading

import pytest

from apps.ingestion.readers import read_ahead


def test_items_come_in_order_and_an_error_comes_in_its_turn():
    def items():
        yield from range(3)
        raise ValueError("unreadable")

    received = []
    with pytest.raises(ValueError, match="unreadable"):
        for item in read_ahead(items()):
            received.append(item)
    assert received == [0, 1, 2]


def test_a_consumer_that_stops_early_stops_the_producer_before_it_returns():
    produced = []

    def items():
        for number in range(1000):
            produced.append(number)
            yield number

    ahead = read_ahead(items())
    assert next(ahead) == 0
    ahead.close()  # as a `for` loop left by an error does
    # The producer has ended (it would read a stream its consumer is about to close)...
    assert not any(thread.name == "read-ahead" for thread in threading.enumerate())
    # ...having produced at most the item under way and the one it could hand over.
    assert len(produced) <= 3
