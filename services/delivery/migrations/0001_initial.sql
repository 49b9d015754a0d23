-- One row per message: the claim a worker records before sending, then the outcome.
-- A redelivered message finds its row and is settled from it instead of being sent again.
CREATE TABLE attempts (
    message_id        uuid PRIMARY KEY,
    server_id         uuid        NOT NULL,
    attempt           integer     NOT NULL CHECK (attempt >= 1),
    state             text        NOT NULL CHECK (state IN ('sending', 'sent', 'deferred', 'failed', 'unknown')),
    reply_code        integer,
    enhanced_code     text,
    reply_text        text,
    vendor_message_id text,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Messages a person may have to decide about: sends whose outcome nobody knows.
CREATE INDEX attempts_unsettled ON attempts (updated_at) WHERE state IN ('sending', 'unknown');
