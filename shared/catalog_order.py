"""Which catalog news is newest, per item: the rule every holder of a catalog view follows.

A process that keeps a view of the catalog (the router's servers, plans and tenants; a delivery
worker's servers) consumes catalog events before its snapshot arrives, and with several catalog
replicas the events may come slightly out of order. Each item remembers the id of the event that
last set it (a snapshot counts as its `last_event_id`), and older news about it is ignored: a
snapshot taken before an event already applied does not undo it, nor does a redelivered old event.
"""

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class NewestCatalogNews(Generic[K]):
    def __init__(self) -> None:
        self._set_by: dict[K, int] = {}

    def admit(self, item: K, event_id: int) -> bool:
        """Whether news of `event_id` about `item` is at least as new as what set it last; if so, it
        is now what set it."""
        if event_id < self._set_by.get(item, 0):
            return False
        self._set_by[item] = event_id
        return True
