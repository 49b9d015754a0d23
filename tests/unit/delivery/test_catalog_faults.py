"""A catalog that does not answer is waited out like a database outage; a garbled answer is not."""

from services.delivery.app.ports import CatalogUnavailable, CatalogUnreachable
from shared.transient import transient_fault


def test_a_catalog_that_does_not_answer_is_a_transient_fault():
    assert transient_fault(CatalogUnreachable("no answer to server_settings within 10s")) is not None


def test_a_catalog_answer_that_does_not_validate_is_not():
    assert transient_fault(CatalogUnavailable("the catalog's snapshot does not validate")) is None
