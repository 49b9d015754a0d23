"""`sendpool_dead_letters_total{service, reason_kind}`: the reasons the consumers write, in a few kinds,
and the service a broker belongs to."""

from shared.messaging import _service_of, make_broker, reason_kind


def test_reasons_become_bounded_kinds():
    assert reason_kind("malformed message: 1 validation error for DeliveryBatch") == "malformed"
    assert reason_kind("failed 10 times, last error: RuntimeError('boom')") == "failed"
    assert reason_kind("failed 3 times in its batch, last error: ValueError()") == "failed"
    assert reason_kind("expired before it could be sent") == "expired"
    assert reason_kind("anything else") == "other"


def test_the_service_is_the_brokers_own():
    assert _service_of(make_broker("amqp://guest:guest@127.0.0.1/", "router")) == "router"
