-- The feedback loop: what was sent (to match feedback to its message), the feedback itself, the
-- suppression lists, the audit log, and the outbox of the status events feedback causes.

-- Filled from the `sent` status events; pruned after SENDPOOL_BOUNCES_SENT_RETENTION_DAYS.
CREATE TABLE sent_messages (
    message_id        uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL,
    campaign_id       uuid NOT NULL,
    run_id            uuid NOT NULL,
    server_id         uuid,
    vendor            text,
    recipient         text NOT NULL,
    vendor_message_id text,
    sent_at           timestamptz NOT NULL
);
-- A vendor webhook names the vendor's message id and its server (in its URL).
CREATE INDEX sent_messages_vendor_message ON sent_messages (server_id, vendor_message_id)
    WHERE vendor_message_id IS NOT NULL;
CREATE INDEX sent_messages_sent_at ON sent_messages (sent_at);

-- What arrived, once: a whole mail or one vendor event. `dedupe_key` makes a DSN sent twice or a
-- webhook retried act once (sha256 of the source, the envelope recipient and the bytes for mail;
-- the vendor's event id for a webhook). `raw` keeps at most SENDPOOL_BOUNCES_RAW_MAX_BYTES.
CREATE TABLE feedback_sources (
    id          bigserial PRIMARY KEY,
    dedupe_key  text NOT NULL UNIQUE,
    source      text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    raw         bytea NOT NULL,
    raw_size    integer NOT NULL
);

-- One row per recipient report of a source (a DSN naming three recipients is three rows).
CREATE TABLE feedback (
    id                  bigserial PRIMARY KEY,
    source_id           bigint NOT NULL REFERENCES feedback_sources (id) ON DELETE CASCADE,
    position            integer NOT NULL,
    received_at         timestamptz NOT NULL DEFAULT now(),
    source              text NOT NULL,
    class               text NOT NULL,
    rule                text NOT NULL,
    feedback_type       text NOT NULL DEFAULT '',
    -- What the intake and the parser named (a verified VERP token, a returned header, a vendor id):
    -- kept so that feedback which arrived before its `sent` event is matched later.
    claimed_message_id  uuid,
    original_message_id uuid,
    claimed_server_id   uuid,
    vendor_message_id   text,
    -- The message it is about; NULL: unmatched (kept, never acted on).
    message_id          uuid,
    tenant_id           uuid,
    campaign_id         uuid,
    run_id              uuid,
    server_id           uuid,
    recipient           text NOT NULL DEFAULT '',
    reported_recipient  text NOT NULL DEFAULT '',
    -- The report named another address than the message's recipient: nothing is suppressed.
    recipient_mismatch  boolean NOT NULL DEFAULT false,
    status_code         text NOT NULL DEFAULT '',
    action              text NOT NULL DEFAULT '',
    diagnostic          text NOT NULL DEFAULT '',
    remote_mta          text NOT NULL DEFAULT '',
    occurred_at         timestamptz,
    details             jsonb NOT NULL DEFAULT '{}',
    -- The status event it caused (`bounced`, `complained`), so a re-classification can undo it.
    published_status    text,
    original_class      text,
    reclassified_by     text,
    reclassified_at     timestamptz,
    reclassify_note     text,
    UNIQUE (source_id, position)
);
CREATE INDEX feedback_tenant ON feedback (tenant_id, id);
CREATE INDEX feedback_message ON feedback (message_id);
CREATE INDEX feedback_soft ON feedback (tenant_id, recipient, received_at)
    WHERE class = 'soft' AND message_id IS NOT NULL AND NOT recipient_mismatch;
CREATE INDEX feedback_unmatched ON feedback (received_at) WHERE message_id IS NULL;

-- Per tenant, and global (tenant_id NULL, the operator's). An expired row counts for nothing.
CREATE TABLE suppressions (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid,
    address     text NOT NULL CHECK (address = lower(address)),
    reason      text NOT NULL,
    source      text NOT NULL CHECK (source IN ('bounce', 'complaint', 'unsubscribe', 'manual', 'import')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    feedback_id bigint REFERENCES feedback (id) ON DELETE SET NULL,
    UNIQUE NULLS NOT DISTINCT (tenant_id, address)
);
CREATE INDEX suppressions_feedback ON suppressions (feedback_id) WHERE feedback_id IS NOT NULL;

-- Every suppression change and every re-classification, by whom.
CREATE TABLE audit_log (
    id      bigserial PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    action  text NOT NULL,
    subject text NOT NULL,
    tenant_id uuid,
    details jsonb NOT NULL DEFAULT '{}'
);

-- The `bounced` and `complained` status events, written with the feedback that caused them and
-- published by the outbox relay (shared/outbox.py, OUTBOX_TABLE).
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    exchange    text NOT NULL,
    routing_key text NOT NULL,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
