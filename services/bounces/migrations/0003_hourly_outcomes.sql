-- Outcome counters per server and hour (UTC), the buckets the bounce and complaint rates are summed
-- over a sliding window (SENDPOOL_BOUNCES_RATE_WINDOW_HOURS); buckets older than the window are pruned.
-- `status` is the event's status, and for `bounced` its class as well (`bounced:hard`, `bounced:soft`):
-- only hard bounces count towards the bounce rate. A count may go down (an operator re-classifies
-- a bounce), never a rate below zero: readers treat a negative sum as none.
CREATE TABLE server_outcome_hours (
    server_id uuid NOT NULL,
    hour timestamptz NOT NULL CHECK (hour = date_trunc('hour', hour, 'UTC')),
    status text NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, hour, status)
);
CREATE INDEX server_outcome_hours_hour ON server_outcome_hours (hour);

-- The daily counters go into the first hour of their day: today's still count towards the window
-- (they happened since midnight), earlier days' are older than any window and pruned soon after.
-- Nothing but these counters read the daily table, so it goes.
INSERT INTO server_outcome_hours (server_id, hour, status, count)
SELECT server_id, day::timestamp AT TIME ZONE 'UTC', status, count FROM server_outcomes;
DROP TABLE server_outcomes;

-- The last time the bounces service paused each server: a server resumed after that pause is judged
-- on the hours after it only, so an operator's resume is not undone at once by the hours that caused it.
CREATE TABLE server_protection_pauses (
    server_id uuid PRIMARY KEY,
    paused_at timestamptz NOT NULL,
    reason text NOT NULL
);
