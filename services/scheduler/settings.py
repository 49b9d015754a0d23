"""The scheduler's settings: its own knobs are `SENDPOOL_SCHEDULER_<KNOB>`, the shared ones keep
their `SENDPOOL_<KNOB>` names (`shared.settings`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.contracts import MAX_BATCH_RECIPIENTS
from shared.limits import HTTP_MAX_IMPORT_BODY_BYTES
from shared.settings import ApiAuthSettings, ServiceSettings


class SchedulerSettings(ApiAuthSettings, ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_SCHEDULER_")

    expand_batch_size: int = Field(
        500,
        ge=1,
        le=10_000,
        description=(
            "Recipients published together, then recorded in one transaction, while expanding a run. "
            "A crash re-publishes at most one batch (with the same message ids)."
        ),
    )
    send_batch_size: int = Field(
        250,
        ge=1,
        le=MAX_BATCH_RECIPIENTS,
        description=(
            "Most recipients in one `SendBatch` message to the router (the content travels once per message): "
            "an expansion batch goes out as several of these, and so do messages published again."
        ),
    )
    expansion_retry_seconds: float = Field(
        1.0,
        gt=0,
        description="First pause before an expansion that failed (broker or database down) tries again; doubles up to 30s.",
    )
    suppression_check_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description=(
            "How long an expansion batch waits for the bounces service to say which of its recipients are "
            "suppressed (`bounces.rpc`, one request per 1000 addresses). Without an answer nothing of the "
            "batch is published: the expansion waits and asks again (SENDPOOL_SCHEDULER_EXPANSION_RETRY_SECONDS)."
        ),
    )
    expansion_lease_seconds: float = Field(
        15.0,
        gt=0,
        description=(
            "How long a replica's claim on expanding a run holds without being renewed (it is renewed with "
            "every batch). Another replica takes the run over only after that, so two never expand it at once."
        ),
    )
    expansion_sweep_seconds: float = Field(
        5.0,
        gt=0,
        description="How often a replica looks for runs left unexpanded (their replica died or stopped) to take over.",
    )
    status_prefetch: int = Field(
        50,
        ge=1,
        description=(
            "Messages of `scheduler.status` in hand at once: status batches (of up to 1000 events each) and "
            "campaign events. Those in hand at the same moment share database writes; it bounds the memory "
            "a backlog of large status batches takes (a parsed `routed` event is a few kB)."
        ),
    )
    status_batch_size: int = Field(
        500, ge=1, description="Most status events folded into message states by one database write."
    )
    status_batch_wait_seconds: float = Field(
        0.02,
        gt=0,
        description="How long a status event waits for others to share its write; each event's ack waits for the write.",
    )
    stale_after_seconds: float = Field(
        600.0,
        gt=0,
        description=(
            "A message of a running campaign that is queued, waiting for capacity or deferred, and of which "
            "nothing was heard for this long after it was due, is published again (same message id, so it is "
            "never sent twice): no campaign stays running for good because one message was lost on the way."
        ),
    )
    stale_routed_after_seconds: float = Field(
        3600.0,
        gt=0,
        description=(
            "The same for a message routed to a server and not reported since: longer, since it may wait its "
            "turn behind a backlog in the server's queue (a copy published again would count against the "
            "server's limits a second time)."
        ),
    )
    stale_sweep_seconds: float = Field(
        30.0, gt=0, description="How often a replica looks for messages that made no progress for too long."
    )
    schedule_sweep_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description=(
            "How often a replica starts the scheduled campaigns whose `send_at` has come (claimed with "
            "`FOR UPDATE SKIP LOCKED`, so each starts once however many replicas sweep): a campaign starts at "
            "most this long after its time."
        ),
    )
    catalog_timeout_seconds: float = Field(
        5.0,
        gt=0,
        description=(
            "How long a launch waits for the catalog to name the campaign's servers and their From domains "
            "(`catalog.rpc`); without an answer the launch is refused with 503 and nothing changes."
        ),
    )
    progress_interval_seconds: float = Field(
        15.0,
        ge=1,
        le=3600,
        description=(
            "How often each running campaign's progress (counts per state and per server, send rate, estimated "
            "completion) is published as a `campaign_progress` event, by one replica per campaign, and sampled "
            "for the send rate. Each costs two scans of the run's messages (about 0.3 s for 1,000,000)."
        ),
    )
    campaign_metrics_interval_seconds: float = Field(
        15.0,
        gt=0,
        description="How often a replica reads the running campaigns as a whole (one query of their runs) "
        "for `sendpool_scheduler_running_campaigns`, `_pending_messages` and `_stalled_campaigns`.",
    )
    stalled_after_seconds: float = Field(
        900.0,
        gt=0,
        description="A running campaign with messages not final yet whose counts per state have not changed "
        "for this long counts in `sendpool_scheduler_stalled_campaigns` (seen by the progress ticks, so "
        "within `SENDPOOL_SCHEDULER_PROGRESS_INTERVAL_SECONDS`).",
    )
    recipients_max_body_bytes: int = Field(
        HTTP_MAX_IMPORT_BODY_BYTES,
        ge=1024,
        description="The largest body `POST /lists/{list_id}/recipients` reads (413 above it); the default fits "
        "its 10,000 recipients with addresses and names at their maxima. Other endpoints keep "
        "SENDPOOL_HTTP_MAX_BODY_BYTES.",
    )
    import_max_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1024,
        description="The largest CSV body `POST /lists/{list_id}/imports` reads (413 above it). The body is "
        "streamed into the list a chunk at a time, so this bounds the import's length, not the memory it takes.",
    )
    list_max_recipients: int = Field(
        5_000_000,
        ge=1,
        description="The most recipients one list holds: an import or an addition that would pass it is "
        "refused (409); an import keeps the rows it wrote before.",
    )
