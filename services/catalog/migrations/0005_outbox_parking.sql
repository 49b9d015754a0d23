-- An event the relay cannot publish (its stored payload no longer reads as a CatalogEvent, or it
-- is larger than the broker takes) is parked with the reason instead of blocking every event
-- recorded after it; an operator finds it here. Pending events are those neither published nor parked.

ALTER TABLE outbox
    ADD COLUMN parked_at timestamptz,
    ADD COLUMN parked_reason text;

DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (id) WHERE parked_at IS NOT NULL;
