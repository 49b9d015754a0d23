-- The scheduler's schema: recipient lists, campaigns, their runs and every message's state.

CREATE TABLE lists (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lists_tenant_idx ON lists (tenant_id);

CREATE TABLE recipients (
    -- Increasing ids give expansion a cursor: a run resumes after the last id it published.
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list_id uuid NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    email   text NOT NULL,
    name    text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX recipients_list_email_key ON recipients (list_id, lower(email));
CREATE INDEX recipients_list_order_idx ON recipients (list_id, id);

CREATE TABLE campaigns (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL,
    name        text NOT NULL,
    list_id     uuid NOT NULL REFERENCES lists (id),
    content     jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'running', 'stopped', 'completed')),
    stop_reason text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_tenant_idx ON campaigns (tenant_id);

CREATE TABLE runs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    campaign_id      uuid NOT NULL REFERENCES campaigns (id),
    state            text NOT NULL CHECK (state IN ('expanding', 'expanded', 'completed')),
    total            integer NOT NULL,
    expanded         integer NOT NULL DEFAULT 0,
    cursor           bigint NOT NULL DEFAULT 0,
    -- The list's highest recipient id at launch: recipients added later are not in this run.
    max_recipient_id bigint NOT NULL DEFAULT 0,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX runs_campaign_idx ON runs (campaign_id, started_at DESC);
CREATE INDEX runs_expanding_idx ON runs (id) WHERE state = 'expanding';

CREATE TABLE messages (
    message_id  uuid PRIMARY KEY,
    run_id      uuid NOT NULL REFERENCES runs (id),
    campaign_id uuid NOT NULL REFERENCES campaigns (id),
    recipient   text NOT NULL,
    status      text NOT NULL,
    -- How far the attempt has gone (services.scheduler.domain.status.STATUS_RANK), so that a write
    -- can refuse to move a message backwards without knowing every status's place.
    status_rank smallint NOT NULL,
    attempt     integer NOT NULL DEFAULT 1,
    server_id   uuid,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_run_status_idx ON messages (run_id, status);
