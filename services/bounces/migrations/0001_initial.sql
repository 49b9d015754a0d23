-- Outcomes per sending server and day: the basis of bounce and complaint rates.
CREATE TABLE server_outcomes (
    server_id uuid NOT NULL,
    day date NOT NULL,
    status text NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, day, status)
);
