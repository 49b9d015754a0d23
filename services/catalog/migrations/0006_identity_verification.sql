-- The last DNS verification of a server's identity (IdentityVerification: verified, checked_at and
-- each check with what was found and what to publish). It describes the identity it checked, so it
-- goes when the identity changes or is removed.

ALTER TABLE servers
    ADD COLUMN identity_verification jsonb,  -- NULL: never checked since the identity was last set
    ADD CONSTRAINT servers_verification_needs_identity CHECK (identity_verification IS NULL OR identity IS NOT NULL);
