-- Campaigns the router stopped because no selected server could send, and the messages held for them.
CREATE TABLE stopped_campaigns (
    campaign_id uuid PRIMARY KEY,
    reason text NOT NULL,
    stopped_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE held_messages (
    message_id uuid PRIMARY KEY,
    campaign_id uuid NOT NULL,
    payload jsonb NOT NULL,
    held_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_messages_campaign ON held_messages (campaign_id, held_at);
