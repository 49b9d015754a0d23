-- Sends counted per bucket (a server, or a server's traffic to one receiver) and window.
CREATE TABLE capacity (
    bucket text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('second', 'minute', 'hour', 'day')),
    window_start timestamptz NOT NULL,
    used integer NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (bucket, kind, window_start)
);
CREATE INDEX capacity_window_start ON capacity (window_start);
