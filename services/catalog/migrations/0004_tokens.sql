-- Tenant API tokens as the catalog records them: what each token says and whether it was revoked.
-- The token itself (its signature) is never stored: it is shown once, when it is issued.

CREATE TABLE tokens (
    id text PRIMARY KEY,  -- the part of the token after the tenant's id
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    label text NOT NULL DEFAULT '',
    created_at timestamptz,  -- NULL: issued before tokens were recorded, and revoked by presenting it
    expires_at timestamptz,  -- NULL: never expires
    revoked_at timestamptz,
    revoked_by text,
    CONSTRAINT tokens_revoked_by_whom CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);

CREATE INDEX tokens_of_tenant ON tokens (tenant_id, created_at DESC NULLS LAST, id);
-- Every service starting asks for the revoked tokens that have not expired.
CREATE INDEX tokens_revoked ON tokens (expires_at) WHERE revoked_at IS NOT NULL;
