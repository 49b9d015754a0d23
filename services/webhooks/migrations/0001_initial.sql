-- Tenants' webhook endpoints, with the sender's state per endpoint.
CREATE TABLE endpoints (
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    url text NOT NULL,
    description text NOT NULL DEFAULT '',
    event_types text[],                      -- NULL: every type
    secret_sealed text NOT NULL,             -- Fernet (SENDPOOL_WEBHOOKS_SECRET_KEYS)
    previous_secret_sealed text,             -- still signs alongside until previous_secret_until
    previous_secret_until timestamptz,
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    failures integer NOT NULL DEFAULT 0,     -- failed requests in a row
    failing_since timestamptz,               -- first failure since the last success
    next_attempt_at timestamptz,             -- NULL: as soon as something is pending
    last_attempt_at timestamptz,             -- round-robin: the endpoint served longest ago goes first
    lease_until timestamptz                  -- a request in flight (one per endpoint, across replicas)
);
CREATE INDEX endpoints_tenant ON endpoints (tenant_id, created_at);

-- Events of the tenants that have endpoints, kept for retries and replays (SENDPOOL_WEBHOOKS_EVENT_RETENTION_DAYS).
CREATE TABLE events (
    event_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    body jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_tenant_occurred ON events (tenant_id, occurred_at);
CREATE INDEX events_received ON events (received_at);

-- What each endpoint has still to receive, oldest first.
CREATE TABLE pending (
    endpoint_id uuid NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id uuid NOT NULL REFERENCES events (event_id) ON DELETE CASCADE,
    seq bigserial NOT NULL,
    PRIMARY KEY (endpoint_id, event_id)
);
CREATE INDEX pending_order ON pending (endpoint_id, seq);
CREATE INDEX pending_event ON pending (event_id);

-- The delivery log: one row per request.
CREATE TABLE deliveries (
    id bigserial PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL,
    webhook_id text NOT NULL,
    event_ids uuid[] NOT NULL,
    status_code integer,
    error text,
    duration_ms integer NOT NULL,
    succeeded boolean NOT NULL
);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id DESC);
CREATE INDEX deliveries_attempted ON deliveries (attempted_at);
