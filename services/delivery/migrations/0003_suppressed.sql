-- A recipient found suppressed just before sending is not sent: its row records `suppressed` with the
-- reason, a final state, so a redelivered copy of the message re-publishes it instead of sending.
ALTER TABLE attempts DROP CONSTRAINT attempts_state_check;
ALTER TABLE attempts ADD CONSTRAINT attempts_state_check
    CHECK (state IN ('sending', 'sent', 'deferred', 'failed', 'unknown', 'suppressed'));
