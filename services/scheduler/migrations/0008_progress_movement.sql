-- What the progress tick last read of each run (its final count, its counts per state) and when those
-- counts last changed: the metrics tell a running campaign that moves from one that stalled, and count
-- the messages left, without scanning any run's messages.
ALTER TABLE runs
    ADD COLUMN progress_final integer,
    ADD COLUMN progress_counts jsonb,
    ADD COLUMN progress_moved_at timestamptz;
