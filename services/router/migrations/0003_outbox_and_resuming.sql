-- What the router must announce with a change it commits (campaign_stopped, held), written in the
-- change's transaction and published by the outbox relay (shared/outbox.py, OUTBOX_TABLE).
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    exchange    text NOT NULL,
    routing_key text NOT NULL,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Set when a resume starts releasing the campaign's held messages; the row goes once all are
-- released. Until then no message is held for it, and a resume that died half way is finished
-- by its redelivered event or by the sweeper.
ALTER TABLE stopped_campaigns ADD COLUMN resuming_since timestamptz;
