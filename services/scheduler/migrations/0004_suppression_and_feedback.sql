-- Why a message is in its state, where the scheduler decided it: a recipient skipped at expansion
-- because it is suppressed (the bounces service's reason). NULL for every other message.
ALTER TABLE messages ADD COLUMN reason text;

-- Bounces and complaints about sent messages. They come after `sent` (the message stays `sent`), so
-- they are counted beside the states, once per message and status: a redelivered event adds nothing.
CREATE TABLE message_feedback (
    message_id  uuid NOT NULL,
    status      text NOT NULL CHECK (status IN ('bounced', 'complained')),
    run_id      uuid NOT NULL REFERENCES runs (id),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, status)
);
-- A campaign's report counts them per run.
CREATE INDEX message_feedback_run_idx ON message_feedback (run_id, status);
