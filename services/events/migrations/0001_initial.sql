-- The event log: every public event (shared/events.py) once, as it was published.
-- Written by the consumer of events.status (one INSERT ... SELECT FROM unnest per delivery,
-- ON CONFLICT (event_id) DO NOTHING: a copy of a fact is not logged twice); read by the
-- timelines of the API; pruned past SENDPOOL_EVENTS_RETENTION_DAYS.
CREATE TABLE event_log (
    event_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    message_id uuid,             -- NULL for campaign events
    recipient text,              -- lower-cased, for search; the envelope keeps it as it was
    type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    envelope jsonb NOT NULL
);

-- GET /messages/{id}/events: one message's events in order.
CREATE INDEX event_log_message ON event_log (message_id, occurred_at, event_id)
    WHERE message_id IS NOT NULL;
-- GET /campaigns/{id}/events: a campaign's events, paged by (occurred_at, event_id); with ?type= too.
CREATE INDEX event_log_campaign ON event_log (campaign_id, occurred_at, event_id);
CREATE INDEX event_log_campaign_type ON event_log (campaign_id, type, occurred_at, event_id);
-- GET /campaigns/{id}/events?recipient=: one recipient's timeline within a campaign.
CREATE INDEX event_log_campaign_recipient ON event_log (campaign_id, recipient, occurred_at, event_id)
    WHERE recipient IS NOT NULL;
-- The pruner: the oldest first.
CREATE INDEX event_log_occurred ON event_log (occurred_at);
