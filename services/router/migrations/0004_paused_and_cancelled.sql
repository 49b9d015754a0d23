-- The tenant's latest decision about a campaign as the router heard it (campaign_paused,
-- campaign_resumed, campaign_cancelled), so that a router that restarts, or missed the events
-- while down, still holds a paused campaign and drops a cancelled one. `decided_at` is the
-- event's `occurred_at`: a late copy of an older decision (a pause redelivered after its resume)
-- never overrides a newer one, and `cancelled` is final whatever comes after it.
-- A pause also holds the campaign as a stop does (a row of stopped_campaigns).
CREATE TABLE campaign_controls (
    campaign_id uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    state       text NOT NULL CHECK (state IN ('paused', 'resumed', 'cancelled')),
    decided_at  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaign_controls_held ON campaign_controls (state, decided_at) WHERE state <> 'resumed';
