-- One replica at a time expands a run: it holds the run's lease while it does, renewing it with
-- every batch; another replica takes the run over only once the lease has run out.
ALTER TABLE runs
    ADD COLUMN expander text,
    ADD COLUMN expander_lease_until timestamptz;
