-- Each server's bounce and complaint rates as the bounces service last reported them
-- (`ServerReputationReport` on catalog.rpc), shown in ServerView.reputation and the pool views.
-- Kept beside the server rather than in its row: a report is a measurement, not a change of the
-- server, so it bumps no version, records no event and never waits for a lock a change holds.
CREATE TABLE server_reputation (
    server_id uuid PRIMARY KEY REFERENCES servers (id) ON DELETE CASCADE,
    reputation jsonb NOT NULL,  -- ServerReputation
    measured_at timestamptz NOT NULL,  -- reputation.measured_at: an older report never replaces a newer one
    reported_at timestamptz NOT NULL DEFAULT now()
);
