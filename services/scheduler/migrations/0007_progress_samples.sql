-- A campaign's send rate, cheaply: the progress tick writes how many of a run's messages were final
-- at that moment, and the rate is the difference between two samples over the time between them
-- (services/scheduler/domain/progress.py). Only the last minutes are kept: a few dozen rows per run.
CREATE TABLE progress_samples (
    run_id     uuid NOT NULL REFERENCES runs (id),
    sampled_at timestamptz NOT NULL DEFAULT now(),
    final      integer NOT NULL,
    PRIMARY KEY (run_id, sampled_at)
);

-- When a replica last published the run's progress: the tick claims a run by moving it forward, so
-- with several scheduler replicas one alone publishes a run's progress per interval.
ALTER TABLE runs ADD COLUMN progress_at timestamptz;
