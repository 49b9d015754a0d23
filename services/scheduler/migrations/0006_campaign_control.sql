-- Campaign control: a campaign may be scheduled for later, paused, and cancelled.
--   scheduled: launched for `send_at`; the scheduler's start sweeper starts its run then.
--   paused:    the tenant paused it; expansion stops and the router holds what is queued.
--   cancelled: final; every message not yet final became `cancelled` (messages.status needs no
--              change: a status is free text ranked by services.scheduler.domain.status).
ALTER TABLE campaigns DROP CONSTRAINT campaigns_state_check;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_state_check CHECK (
    state IN ('draft', 'scheduled', 'running', 'paused', 'stopped', 'completed', 'cancelled')
);

-- When a scheduled run starts (UTC), and the IANA time zone the tenant gave it in (kept to show the
-- time as it was given; the instant is `send_at` alone). In the database, so a restart keeps it.
ALTER TABLE campaigns
    ADD COLUMN send_at timestamptz,
    ADD COLUMN time_zone text;
ALTER TABLE campaigns ADD CONSTRAINT campaigns_scheduled_has_send_at CHECK (
    state <> 'scheduled' OR send_at IS NOT NULL
);

-- The start sweeper's search: scheduled campaigns by when they are due.
CREATE INDEX campaigns_due_idx ON campaigns (send_at) WHERE state = 'scheduled';
-- GET /campaigns: a tenant's campaigns, newest first, paged by (created_at, id).
CREATE INDEX campaigns_tenant_page_idx ON campaigns (tenant_id, created_at DESC, id DESC);

-- When the run was cancelled: it expands no further, and an expansion batch that was in hand
-- (published, not yet recorded) is recorded with its messages `cancelled` rather than lost.
ALTER TABLE runs ADD COLUMN cancelled_at timestamptz;
