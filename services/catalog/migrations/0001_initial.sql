-- The catalog: tenants, plans, sending servers, campaign sending policies, and the outbox of change events.

CREATE TABLE plans (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    allow_own_servers boolean NOT NULL DEFAULT true,
    server_quota integer CHECK (server_quota >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    plan_id uuid REFERENCES plans (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE servers (
    id uuid PRIMARY KEY,
    tenant_id uuid REFERENCES tenants (id),  -- NULL: a pool server the operator owns and plans grant
    name text NOT NULL,
    type text NOT NULL,
    vendor text NOT NULL,
    settings jsonb NOT NULL,  -- connection settings without secrets
    secrets text NOT NULL,  -- Fernet token (MultiFernet) of a JSON object of the secret fields
    state text NOT NULL CHECK (state IN ('inactive', 'active', 'disabled', 'paused')),
    limits jsonb NOT NULL DEFAULT '{}',  -- SendingLimits
    warmup jsonb,  -- WarmupSchedule: a new server's ramp of daily caps
    destination_rules jsonb NOT NULL DEFAULT '[]',  -- [DestinationRule]: limits per receiving domain
    settings_changed_at timestamptz NOT NULL,
    last_test_at timestamptz,
    last_test_ok boolean,
    last_test_message text,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE INDEX servers_tenant_id ON servers (tenant_id);

CREATE TABLE plan_servers (
    plan_id uuid NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    server_id uuid NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    position integer NOT NULL,
    PRIMARY KEY (plan_id, server_id)
);

CREATE TABLE sending_policies (
    campaign_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    use_all boolean NOT NULL,
    selection jsonb NOT NULL DEFAULT '[]',  -- [{"server_id": ..., "weight": ...}]
    version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    payload jsonb NOT NULL,  -- the CatalogEvent as published, event_id = id
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
