"""The worker is built from its settings alone: no connection, no event loop (the document
generators build it too); the database opens only when the process starts."""

from uuid import uuid4

from services.delivery.bootstrap import bootstrap
from services.delivery.settings import DeliverySettings


def test_the_worker_is_built_without_connecting_anywhere():
    settings = DeliverySettings.model_construct(
        instance_id="<instance>",
        amqp_url="amqp://guest:guest@nowhere.invalid:5672/",
        database_url="postgresql://postgres@nowhere.invalid:5432/sendpool",
        verp_secret="unit-test-verp-secret",
        unsubscribe_secret="unit-test-unsubscribe-secret",
    )

    runtime = bootstrap(settings)

    assert not runtime.database.is_open
    assert runtime.queues.running == frozenset()
    assert runtime.fleet.refusal(uuid4()) is None, "no server heard of yet, none refused"
