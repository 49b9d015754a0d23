-- The operator's pause or disable is a hold the server's owner cannot lift; the sendmail program
-- is the operator's setting, no longer a server's.

ALTER TABLE servers
    ADD COLUMN hold_action text CHECK (hold_action IN ('paused', 'disabled')),  -- NULL: not held
    ADD COLUMN hold_reason text,
    ADD COLUMN held_at timestamptz,
    ADD CONSTRAINT servers_hold_complete CHECK (
        (hold_action IS NULL) = (hold_reason IS NULL) AND (hold_action IS NULL) = (held_at IS NULL)
    );

-- Connection settings are plain JSON (only the secret fields are sealed): a tenant's `path` goes.
UPDATE servers SET settings = settings - 'path' WHERE type = 'sendmail' AND settings ? 'path';
