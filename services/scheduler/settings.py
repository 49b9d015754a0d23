"""The scheduler's settings (environment variables prefixed SENDPOOL_)."""

from pydantic import Field

from shared.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    expand_batch_size: int = Field(
        500,
        ge=1,
        le=10_000,
        description=(
            "Recipients published together, then recorded in one transaction, while expanding a run. "
            "A crash re-publishes at most one batch (with the same message ids)."
        ),
    )
    expansion_retry_seconds: float = Field(
        1.0,
        gt=0,
        description="First pause before an expansion that failed (broker or database down) tries again; doubles up to 30s.",
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
    status_batch_size: int = Field(
        500, ge=1, description="Most status events folded into message states by one database write."
    )
    status_batch_wait: float = Field(
        0.02,
        gt=0,
        description="Seconds a status event waits for others to share its write; each event's ack waits for the write.",
    )
