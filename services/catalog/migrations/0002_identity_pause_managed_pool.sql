-- Servers gain an identity (DKIM key sealed apart from the connection secrets, since changing it is
-- no connection change), bounce handling thresholds and the reason of a pause; plans may be managed pools.

ALTER TABLE servers
    ADD COLUMN identity jsonb,  -- from_domains, dkim_selector, return_path_domain, DKIM public key; NULL: none
    ADD COLUMN dkim_key text,  -- Fernet token of {"pem": <private key>}; NULL: no DKIM signing
    ADD COLUMN bounce_handling jsonb NOT NULL DEFAULT '{}',  -- BounceHandling; {} is its defaults
    ADD COLUMN pause_reason text,
    ADD COLUMN paused_by text,
    ADD COLUMN paused_at timestamptz,
    ADD CONSTRAINT servers_pause_iff_paused CHECK ((state = 'paused') = (pause_reason IS NOT NULL)),
    ADD CONSTRAINT servers_dkim_key_needs_identity CHECK (dkim_key IS NULL OR identity IS NOT NULL);

-- Listings page through servers oldest first.
CREATE INDEX servers_created ON servers (created_at, id);

ALTER TABLE plans
    ADD COLUMN managed_pool boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT plans_managed_pool_without_own_servers CHECK (NOT (managed_pool AND allow_own_servers));
