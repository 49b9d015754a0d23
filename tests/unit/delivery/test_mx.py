"""MX ordering (preference, implicit MX, null MX) and the TTL cache of DNS answers."""

import random

import pytest

from services.delivery.domain.mx import MxRecord, NullMx, TtlCache, exchanges_in_order


def test_hosts_are_tried_in_order_of_preference():
    records = [MxRecord("mx3.shop.test.", 30), MxRecord("mx1.shop.test.", 10), MxRecord("mx2.shop.test", 20)]

    assert exchanges_in_order("shop.test", records) == ["mx1.shop.test", "mx2.shop.test", "mx3.shop.test"]


def test_hosts_of_equal_preference_are_shuffled_to_spread_the_load():
    records = [MxRecord(f"mx{i}.shop.test", 10) for i in range(4)] + [MxRecord("backup.shop.test", 50)]

    orders = {tuple(exchanges_in_order("shop.test", records, random.Random(seed))) for seed in range(20)}

    assert len(orders) > 1
    assert all(order[-1] == "backup.shop.test" for order in orders)


def test_a_domain_without_mx_records_receives_at_its_own_address():
    assert exchanges_in_order("shop.test", []) == ["shop.test"]


@pytest.mark.parametrize("exchange", ["", "."])
def test_a_null_mx_means_the_domain_takes_no_mail(exchange):
    with pytest.raises(NullMx, match="RFC 7505"):
        exchanges_in_order("nomail.test", [MxRecord(exchange, 0)])


def test_duplicate_hosts_are_tried_once():
    records = [MxRecord("MX.shop.test.", 10), MxRecord("mx.shop.test", 20)]

    assert exchanges_in_order("shop.test", records) == ["mx.shop.test"]


def test_cached_answers_expire_with_their_ttl():
    cache: TtlCache[str, list[str]] = TtlCache()
    cache.put("shop.test", ["mx1.shop.test"], ttl=300, now=1000.0)

    assert cache.get("shop.test", now=1299.0) == ["mx1.shop.test"]
    assert cache.get("shop.test", now=1300.0) is None
    assert cache.get("other.test", now=1000.0) is None


def test_an_answer_with_no_ttl_is_not_cached():
    cache: TtlCache[str, str] = TtlCache()
    cache.put("shop.test", "mx", ttl=0, now=1000.0)

    assert cache.get("shop.test", now=1000.0) is None


def test_a_full_cache_drops_expired_answers_first_then_the_oldest():
    cache: TtlCache[str, str] = TtlCache(max_entries=2)
    cache.put("short.test", "a", ttl=10, now=0.0)
    cache.put("long.test", "b", ttl=1000, now=0.0)

    cache.put("new.test", "c", ttl=1000, now=20.0)  # short.test has expired: it makes room
    cache.put("newer.test", "d", ttl=1000, now=30.0)  # nothing expired: the oldest, long.test, goes

    assert [cache.get(key, now=40.0) for key in ("long.test", "new.test", "newer.test")] == [None, "c", "d"]
