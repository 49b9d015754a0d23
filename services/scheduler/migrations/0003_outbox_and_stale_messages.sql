-- Campaign decisions other services must hear (resumed, completed) are recorded with the change
-- that made them and published by a relay (shared/outbox.py), so a failed publish is retried
-- instead of leaving the router or a tenant's systems unaware for good.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    exchange    text NOT NULL,
    routing_key text NOT NULL,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- When a message that is not final is next expected to move (a deferred retry, or a wait for
-- capacity), and how often the stale-message sweeper has published it again.
ALTER TABLE messages
    ADD COLUMN due_at timestamptz,
    ADD COLUMN resent integer NOT NULL DEFAULT 0;

-- The sweeper's search: messages still on their way, by how long they have been quiet.
CREATE INDEX messages_in_progress_idx ON messages (updated_at)
    WHERE status IN ('queued', 'waiting', 'routed', 'deferred');
