"""Versioned message contracts shared by every service.

Every message on the bus is one of these pydantic models, serialised as JSON. A model's
`schema_version` changes only when a field's meaning changes; adding an optional field does
not. Consumers reject (dead-letter) a message that does not validate, with the reason.
"""

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID, uuid4, uuid5

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from shared.limits import (
    BODY_MAX,
    DESTINATION_RULES_MAX,
    EMAIL_ADDRESS_MAX,
    FIELD_NAME_MAX,
    FIELD_VALUE_MAX,
    FROM_DOMAINS_MAX,
    HEADER_VALUE_MAX,
    HOST_MAX,
    NAME_MAX,
    PEM_MAX,
    REASON_MAX,
    RECIPIENT_FIELDS_MAX,
    SENDS_MAX,
    SERVERS_MAX,
    SUBJECT_MAX,
    WARMUP_DAYS_MAX,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _refuse_header_breaking(value: str) -> str:
    # CR, LF or NUL inside a header value would let a caller inject headers or recipients; the
    # other characters `str.splitlines()` breaks on make Python's email package refuse the header.
    if any(ch in value for ch in "\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):
        raise ValueError("must not contain CR, LF or NUL characters, nor any other line break")
    return value


HeaderSafeStr = Annotated[str, AfterValidator(_refuse_header_breaking)]
"""A string that is safe to place in a mail header or an SMTP command."""

# Bounded strings (`shared.limits`): every string a contract carries has a maximum, so that a
# message too large to handle is refused (dead-lettered with the limit as its reason) on arrival.
Address = Annotated[HeaderSafeStr, Field(max_length=EMAIL_ADDRESS_MAX)]
Host = Annotated[HeaderSafeStr, Field(max_length=HOST_MAX)]
Name = Annotated[str, Field(max_length=NAME_MAX)]
HeaderName = Annotated[HeaderSafeStr, Field(max_length=NAME_MAX)]
Label = Annotated[str, Field(max_length=100)]
"""A short identifier the platform chooses: a vendor, a server type, an enhanced status code."""
ServerIds = Annotated[list[UUID], Field(max_length=SERVERS_MAX)]
FieldName = Annotated[
    str, Field(min_length=1, max_length=FIELD_NAME_MAX, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
]
"""A merge field's name: an identifier, so that a template names it as `{{ name }}`."""
RecipientFields = Annotated[
    dict[FieldName, Annotated[str, Field(max_length=FIELD_VALUE_MAX)]], Field(max_length=RECIPIENT_FIELDS_MAX)
]

Traceparent = Annotated[str, Field(max_length=55, pattern=r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")]
"""A W3C trace context (`traceparent`): the span that published a message, the parent of the next
step's (`shared.tracing`). Only when tracing is on; None otherwise, and from earlier versions."""
TRACEPARENT_DESCRIPTION = (
    "W3C `traceparent` of the span that published this message (when tracing is on): the next step's "
    "span is its child. The trace id of a message's trace is its `message_id`."
)


def _cut_to_reason_max(value: str) -> str:
    return value if len(value) <= REASON_MAX else value[: REASON_MAX - 1] + "…"


Reason = Annotated[str, AfterValidator(_cut_to_reason_max)]
"""Text the platform writes about a decision (a reason, a reply, an error): cut to `REASON_MAX`
characters rather than refused, so that a long exception text never stops a decision being told."""


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# --------------------------------------------------------------------------- sending


class MessageContent(Contract):
    """What a campaign sends; rendered once per campaign, carried with every message."""

    from_address: Address
    from_name: HeaderName = ""
    reply_to: Address | None = None
    subject: Annotated[HeaderSafeStr, Field(max_length=SUBJECT_MAX)]
    text: str = Field("", max_length=BODY_MAX)
    html: str = Field("", max_length=BODY_MAX)
    unsubscribe_url: Annotated[HeaderSafeStr, Field(max_length=HEADER_VALUE_MAX)] | None = None


class SendRequested(Contract):
    """scheduler → router: one recipient of one campaign run is due."""

    schema_version: Literal[1] = 1
    message_id: UUID
    tenant_id: UUID
    campaign_id: UUID
    run_id: UUID
    recipient: Address
    recipient_name: HeaderName = ""
    content: MessageContent
    attempt: int = Field(1, ge=1, description="1 for the first try; retries of deferred messages count up.")
    avoid_server_ids: ServerIds = Field(
        default_factory=list,
        description="Servers that deferred this message; routing prefers the others of the selection.",
    )
    first_attempt_at: datetime = Field(default_factory=utcnow)
    fields: RecipientFields = Field(
        default_factory=dict,
        description="The recipient's merge fields (custom fields of its list entry), rendered into the "
        "content's subject, text and HTML templates by the delivery worker.",
    )
    redelivered: bool = Field(
        False,
        description=(
            "This attempt was redelivered from a server queue before it was handed back to routing:"
            " a worker that took it earlier may have stopped in the middle of sending it. A worker that"
            " finds it still claimed takes it over (sends it again and reports `unknown`) instead of"
            " waiting for an outcome nobody will report."
        ),
    )
    traceparent: Traceparent | None = Field(None, description=TRACEPARENT_DESCRIPTION)

    def avoiding(self, server_id: UUID, *, redelivered: bool = False) -> "SendRequested":
        """The same message and attempt, steering routing away from a server that did not take it.

        `redelivered` says that RabbitMQ redelivered the copy being handed back; it stays set for
        the rest of this attempt.
        """
        avoid = list(dict.fromkeys([*self.avoid_server_ids, server_id]))
        return self.model_copy(
            update={"avoid_server_ids": avoid, "redelivered": self.redelivered or redelivered}
        )

    def status_event(self, status: "MessageStatus", **fields: Any) -> "StatusEvent":
        """A status event about this message; `fields` adds server, reply, decision, …

        Its `event_id` is derived from what it says (see `status_event_id`), so the same fact
        published twice (a redelivered batch, an outcome re-published from the record) carries
        the same id, and a consumer can drop the second."""
        attempt = fields.pop("attempt", self.attempt)
        event_id = status_event_id(
            self.message_id, status, attempt, fields.get("server_id"), fields.get("retry_at")
        )
        return StatusEvent(
            event_id=event_id,
            status=status,
            message_id=self.message_id,
            tenant_id=self.tenant_id,
            campaign_id=self.campaign_id,
            run_id=self.run_id,
            recipient=self.recipient,
            attempt=attempt,
            **fields,
        )


MAX_BATCH_RECIPIENTS = 1000
"""The most recipients one batch message carries (its producers make them smaller)."""


class BatchRecipient(Contract):
    """One recipient of a `SendBatch`: what differs from one message of the batch to the next."""

    message_id: UUID
    recipient: Address
    recipient_name: HeaderName = ""
    attempt: int = Field(1, ge=1)
    avoid_server_ids: ServerIds = Field(default_factory=list)
    first_attempt_at: datetime = Field(default_factory=utcnow)
    fields: RecipientFields = Field(default_factory=dict)
    redelivered: bool = False
    traceparent: Traceparent | None = Field(None, description=TRACEPARENT_DESCRIPTION)


class SendBatch(Contract):
    """→ router (`sendpool.send`): recipients of one campaign run, with the content they share once.

    Each recipient is one message (`SendRequested` in memory), routed, sent, retried and reported
    on its own: a batch is how messages travel, never a unit that succeeds or fails as a whole."""

    schema_version: Literal[2] = 2
    tenant_id: UUID
    campaign_id: UUID
    run_id: UUID
    content: MessageContent
    recipients: list[BatchRecipient] = Field(min_length=1, max_length=MAX_BATCH_RECIPIENTS)

    def sends(self) -> list[SendRequested]:
        """One `SendRequested` per recipient, sharing the batch's content (validated with the batch)."""
        shared: dict[str, Any] = {
            "schema_version": 1,
            "tenant_id": self.tenant_id,
            "campaign_id": self.campaign_id,
            "run_id": self.run_id,
            "content": self.content,
        }
        return [SendRequested.model_construct(**(shared | item.__dict__)) for item in self.recipients]

    @staticmethod
    def of(sends: Iterable[SendRequested], *, max_size: int = MAX_BATCH_RECIPIENTS) -> list["SendBatch"]:
        """`sends` in as few batches as they fit: one per run and content, at most `max_size` each."""
        return [
            batch
            for first, group in _grouped(sends, _send_key, max_size)
            for batch in SendBatch.of_recipients(
                first.tenant_id,
                first.campaign_id,
                first.run_id,
                first.content,
                [_batch_recipient(send) for send in group],
                max_size=max_size,
            )
        ]

    @staticmethod
    def of_recipients(
        tenant_id: UUID,
        campaign_id: UUID,
        run_id: UUID,
        content: MessageContent,
        recipients: list[BatchRecipient],
        *,
        max_size: int = MAX_BATCH_RECIPIENTS,
    ) -> list["SendBatch"]:
        """One run's recipients, in batches of at most `max_size`, built without validating again
        what the caller validated (the recipients, the content)."""
        return [
            SendBatch.model_construct(
                schema_version=2,
                tenant_id=tenant_id,
                campaign_id=campaign_id,
                run_id=run_id,
                content=content,
                recipients=recipients[start : start + max_size],
            )
            for start in range(0, len(recipients), max_size)
        ]


def _batch_recipient(send: SendRequested) -> BatchRecipient:
    return BatchRecipient.model_construct(
        message_id=send.message_id,
        recipient=send.recipient,
        recipient_name=send.recipient_name,
        attempt=send.attempt,
        avoid_server_ids=send.avoid_server_ids,
        first_attempt_at=send.first_attempt_at,
        fields=send.fields,
        redelivered=send.redelivered,
        traceparent=send.traceparent,
    )


def _send_key(send: SendRequested) -> tuple[Any, ...]:
    return (send.run_id, send.tenant_id, send.campaign_id, send.content)


_T = TypeVar("_T")


def _grouped(items: Iterable[_T], key: Any, max_size: int) -> Iterator[tuple[_T, list[_T]]]:
    """Items grouped by `key(item)` in first-seen order, each group cut into chunks of `max_size`."""
    groups: dict[Any, list[_T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    for group in groups.values():
        for start in range(0, len(group), max_size):
            chunk = group[start : start + max_size]
            yield chunk[0], chunk


class Exclusion(Contract):
    server_id: UUID
    reason: Reason


class RoutingDecision(Contract):
    """Why the router chose a server: the candidates' weights and each excluded server's reason."""

    mode: Literal["use_all", "selection"]
    weights: dict[str, float] = Field(max_length=SERVERS_MAX)
    excluded: list[Exclusion] = Field(default_factory=list, max_length=SERVERS_MAX)


class DeliveryRequested(Contract):
    """router → delivery: send this message through this server (on queue delivery.<vendor>.<server_id>)."""

    schema_version: Literal[1] = 1
    send: SendRequested
    server_id: UUID
    vendor: Label
    decision: RoutingDecision
    routed_at: datetime = Field(default_factory=utcnow)
    counted: bool = Field(
        False,
        description="The router counted this send against the server's limits or a receiver's rule, "
        "at `routed_at`. A worker that takes it late asks the router to count it again now "
        "(`AdmissionRequest`), so a backlog does not go out in one burst.",
    )


class DeliveryBatch(Contract):
    """router → delivery (queue `delivery.<vendor>.<server_id>`): send these recipients through this server.

    Every recipient is one `DeliveryRequested` in memory; the worker sends, records and reports each
    on its own, over its pooled connections, and acknowledges the batch once every one of them is
    settled (sent, deferred, failed, handed back, or dead-lettered alone with its reason)."""

    schema_version: Literal[2] = 2
    server_id: UUID
    vendor: Label
    decision: RoutingDecision
    routed_at: datetime = Field(default_factory=utcnow)
    counted: bool = Field(False, description="As `DeliveryRequested.counted`, for every recipient.")
    batch: SendBatch

    def requests(self) -> list[DeliveryRequested]:
        """One `DeliveryRequested` per recipient (validated with the batch)."""
        return [
            DeliveryRequested.model_construct(
                schema_version=1,
                send=send,
                server_id=self.server_id,
                vendor=self.vendor,
                decision=self.decision,
                routed_at=self.routed_at,
                counted=self.counted,
            )
            for send in self.batch.sends()
        ]

    @staticmethod
    def of(
        requests: Iterable[DeliveryRequested], *, max_size: int = MAX_BATCH_RECIPIENTS
    ) -> list["DeliveryBatch"]:
        """`requests` in as few batches as they fit: one per server, run, content, decision and
        counting; a batch's `routed_at` is its earliest recipient's, so a worker never takes a
        batch for less late than it is."""
        batches = []
        for first, chunk in _grouped(requests, _delivery_key, max_size):
            [batch] = SendBatch.of((request.send for request in chunk), max_size=max_size)
            batches.append(
                DeliveryBatch.model_construct(
                    schema_version=2,
                    server_id=first.server_id,
                    vendor=first.vendor,
                    decision=first.decision,
                    routed_at=min(request.routed_at for request in chunk),
                    counted=first.counted,
                    batch=batch,
                )
            )
        return batches


def _delivery_key(request: DeliveryRequested) -> tuple[Any, ...]:
    # The decision's JSON, since its weights (a dict) make the model unhashable.
    return (request.server_id, request.counted, *_send_key(request.send), _decision_key(request.decision))


def _decision_key(decision: RoutingDecision) -> tuple[Any, ...]:
    return (
        decision.mode,
        tuple(decision.weights.items()),
        tuple((e.server_id, e.reason) for e in decision.excluded),
    )


# --------------------------------------------------------------------------- status


class MessageStatus(StrEnum):
    WAITING = "waiting"
    """Every eligible server is at its cap: the message waits (until `retry_at`) and is routed again."""
    ROUTED = "routed"
    HELD = "held"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    UNKNOWN = "unknown"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    """The campaign was cancelled before the message was handed to a server: it will never be sent."""


FINAL_STATUSES = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.FAILED,
        MessageStatus.UNKNOWN,
        MessageStatus.SUPPRESSED,
        MessageStatus.CANCELLED,
    }
)
"""A message in one of these states has left the pipeline; a campaign ends when all have one.

`suppressed` is final: the scheduler skipped the recipient at expansion, or a delivery worker
found it suppressed just before sending. `bounced` and `complained` come after `sent` and are
counted beside a campaign's states, never instead of them."""

FEEDBACK_STATUSES = frozenset({MessageStatus.BOUNCED, MessageStatus.COMPLAINED})
"""What a recipient's system said about a message after it was sent (the bounces service publishes them)."""


class FeedbackClass(StrEnum):
    """What a piece of feedback about a sent message is (a DSN, an ARF report, a vendor event)."""

    HARD = "hard"
    """A permanent failure (5.x.x): the address is suppressed at once, for good."""
    SOFT = "soft"
    """A transient failure (4.x.x, delayed): suppressed after several within a window, for a while."""
    COMPLAINT = "complaint"
    """A spam complaint (ARF abuse or fraud, a vendor's spam report): suppressed at once, for good."""
    UNSUBSCRIBE = "unsubscribe"
    """An opt-out (ARF opt-out, a vendor's unsubscribe event): suppressed at once, for good."""
    AUTO_REPLY = "auto-reply"
    """A vacation or out-of-office answer (RFC 3834): never a bounce, nothing happens."""
    NOT_BOUNCE = "not-bounce"
    """Mail that is no feedback at all: kept, never counted."""
    UNKNOWN = "unknown"
    """Feedback the parser could not classify: kept for an operator to look at, never acted on."""


_EVENT_IDS = UUID("5b0f3c1e-8d1a-4c55-9a57-3b2f1e0c9d41")


def status_event_id(
    message_id: UUID,
    status: "MessageStatus",
    attempt: int,
    server_id: UUID | None = None,
    retry_at: datetime | None = None,
) -> UUID:
    """The id of the fact "this message reached `status` in `attempt` (on `server_id`, until
    `retry_at`)": the same fact always gets the same id, a new one (another server, a new wait) a new id."""
    retry = retry_at.isoformat() if retry_at is not None else ""
    return uuid5(_EVENT_IDS, f"{message_id}/{attempt}/{status.value}/{server_id or ''}/{retry}")


class StatusEvent(Contract):
    """One message's status, inside a `StatusBatch` (published on sendpool.status)."""

    schema_version: Literal[1] = 1
    event_id: UUID = Field(
        default_factory=uuid4,
        description="The same for every copy of one fact (message, attempt, status, server, `retry_at`): "
        "a consumer that has seen an id may drop the event.",
    )
    status: MessageStatus
    message_id: UUID
    tenant_id: UUID
    campaign_id: UUID
    run_id: UUID
    recipient: Annotated[str, Field(max_length=EMAIL_ADDRESS_MAX)]
    attempt: int = 1
    server_id: UUID | None = None
    vendor: Label | None = None
    reply_code: int | None = None
    enhanced_code: Reason | None = None
    reply_text: Reason | None = None
    vendor_message_id: Reason | None = None
    decision: RoutingDecision | None = None
    retry_at: datetime | None = None
    feedback_class: FeedbackClass | None = Field(
        None,
        description="`bounced` and `complained`: the class of the feedback (`enhanced_code` holds its status "
        "code, `reply_text` its diagnostic). `suppressed`: None, `reply_text` says why.",
    )
    occurred_at: datetime = Field(default_factory=utcnow)
    traceparent: Traceparent | None = Field(None, description=TRACEPARENT_DESCRIPTION)

    @property
    def routing_key(self) -> str:
        return f"{self.tenant_id}.{self.campaign_id}.{self.status.value}"


class StatusBatch(Contract):
    """Published on sendpool.status with routing key <tenant>.<campaign>.<status>: status events of
    one campaign, all with that status, in the order they were decided. At least once: a batch may
    come again, whole or with its events in other batches; `event_id` tells the copies apart."""

    schema_version: Literal[2] = 2
    tenant_id: UUID
    campaign_id: UUID
    status: MessageStatus
    events: list[StatusEvent] = Field(min_length=1, max_length=MAX_BATCH_RECIPIENTS)

    @property
    def routing_key(self) -> str:
        return f"{self.tenant_id}.{self.campaign_id}.{self.status.value}"

    @staticmethod
    def of(events: Iterable[StatusEvent], *, max_size: int = MAX_BATCH_RECIPIENTS) -> list["StatusBatch"]:
        """`events` in as few batches as they fit: one per campaign and status, at most `max_size` each."""
        return [
            StatusBatch.model_construct(
                schema_version=2,
                tenant_id=first.tenant_id,
                campaign_id=first.campaign_id,
                status=first.status,
                events=chunk,
            )
            for first, chunk in _grouped(events, _status_key, max_size)
        ]


def _status_key(event: StatusEvent) -> tuple[Any, ...]:
    return (event.tenant_id, event.campaign_id, event.status)


class CampaignEventKind(StrEnum):
    SCHEDULED = "campaign_scheduled"
    """Launched for later: the run starts at the campaign's `send_at`."""
    STARTED = "campaign_started"
    """Its run began expanding (at launch, or at `send_at`)."""
    STOPPED = "campaign_stopped"
    """The router found no eligible server; `reason` and `servers` say why."""
    PAUSED = "campaign_paused"
    """The tenant paused it: expansion stops and what is queued is held until it is resumed."""
    RESUMED = "campaign_resumed"
    CANCELLED = "campaign_cancelled"
    """The tenant cancelled it: every message not yet handed to a server became `cancelled`."""
    PROGRESS = "campaign_progress"
    """Periodically while it runs: counts per state and per server, send rate, estimated completion."""
    COMPLETED = "campaign_completed"


class CampaignProgress(Contract):
    """How far a campaign's latest run has gone (the API's report, and `campaign_progress` events)."""

    total: int = Field(description="Recipients in the run (the list as it was at launch).")
    expanded: int = Field(description="Recipients the scheduler has published or skipped so far.")
    counts: dict[str, int] = Field(default_factory=dict, description="Messages per state.")
    per_server: dict[str, int] = Field(default_factory=dict, description="Sent messages per server id.")
    send_rate_per_minute: float = Field(0.0, description="Messages that became final per minute, lately.")
    estimated_completion_at: datetime | None = Field(
        None, description="When the run should end at the current rate; None while there is no rate."
    )


class CampaignEvent(Contract):
    """Campaign-level decisions, on sendpool.status with routing key <tenant>.<campaign>.<kind>."""

    schema_version: Literal[1] = 1
    kind: CampaignEventKind
    tenant_id: UUID
    campaign_id: UUID
    reason: Reason = ""
    servers: list[Exclusion] = Field(default_factory=list, max_length=SERVERS_MAX)
    send_at: datetime | None = Field(None, description="`campaign_scheduled`: when the run starts.")
    progress: CampaignProgress | None = Field(None, description="`campaign_progress`: where the run stands.")
    occurred_at: datetime = Field(default_factory=utcnow)

    @property
    def routing_key(self) -> str:
        return f"{self.tenant_id}.{self.campaign_id}.{self.kind.value}"


class ServerHealthEvent(Contract):
    """delivery → sendpool.health (routing key server.<id>): a server's circuit opened or closed.

    Unhealthy means repeated connection failures; the router stops choosing it and moves its
    queued messages to the other servers of their campaigns until a healthy event arrives.
    """

    schema_version: Literal[1] = 1
    server_id: UUID
    vendor: Label
    healthy: bool
    reason: Reason = ""
    consecutive_failures: int = 0
    occurred_at: datetime = Field(default_factory=utcnow)

    @property
    def routing_key(self) -> str:
        return f"server.{self.server_id}"


# --------------------------------------------------------------------------- catalog


class ServerState(StrEnum):
    INACTIVE = "inactive"  # never tested, or connection settings changed since the last passing test
    ACTIVE = "active"
    DISABLED = "disabled"
    PAUSED = "paused"


class SendingLimits(Contract):
    """Caps on sends; each holds over any span of its length, however many replicas route."""

    per_second: int | None = Field(
        None, ge=1, le=SENDS_MAX, description="At most this many sends in a calendar second."
    )
    per_minute: int | None = Field(
        None,
        ge=1,
        le=SENDS_MAX,
        description="At most this many sends in any 60 seconds (not per calendar minute).",
    )
    per_hour: int | None = Field(
        None, ge=1, le=SENDS_MAX, description="At most this many sends in any 60 minutes."
    )
    per_day: int | None = Field(
        None, ge=1, le=SENDS_MAX, description="At most this many sends in any 24 hours."
    )

    def is_empty(self) -> bool:
        return not any((self.per_second, self.per_minute, self.per_hour, self.per_day))


class WarmupSchedule(Contract):
    """A new server's daily cap ramp: linear or exponential from a start volume to a target over N days,
    or an explicit table of daily caps. Day 1 is `start_date`; after the ramp the server is warm (no cap)."""

    kind: Literal["linear", "exponential", "table"]
    start_date: date
    start_volume: int | None = Field(None, ge=1, le=SENDS_MAX)
    target_volume: int | None = Field(None, ge=1, le=SENDS_MAX)
    days: int | None = Field(None, ge=2, le=365)
    table: list[Annotated[int, Field(le=SENDS_MAX)]] = Field(default_factory=list, max_length=WARMUP_DAYS_MAX)

    @model_validator(mode="after")
    def _complete(self) -> "WarmupSchedule":
        if self.kind == "table":
            if not self.table or any(v < 1 for v in self.table):
                raise ValueError("a table warmup needs `table`: a list of daily caps, each at least 1")
        else:
            start_volume, target_volume, _ = self._ramp()
            if start_volume > target_volume:
                raise ValueError("start_volume must not exceed target_volume")
        return self

    def _ramp(self) -> tuple[int, int, int]:
        """`start_volume`, `target_volume` and `days`, which a linear or exponential ramp needs."""
        if self.start_volume is None or self.target_volume is None or self.days is None:
            raise ValueError(f"a {self.kind} warmup needs start_volume, target_volume and days")
        return self.start_volume, self.target_volume, self.days

    def daily_cap(self, on: date) -> int | None:
        """The cap for the day `on`, or None once the ramp is over."""
        day = max((on - self.start_date).days, 0) + 1
        if self.kind == "table":
            return self.table[day - 1] if day <= len(self.table) else None
        start_volume, target_volume, days = self._ramp()
        if day > days:
            return None
        progress = (day - 1) / (days - 1)
        if self.kind == "linear":
            return round(start_volume + (target_volume - start_volume) * progress)
        growth: float = (target_volume / start_volume) ** progress
        return round(start_volume * growth)


class DestinationRule(Contract):
    """How fast one server may send to one receiver: a recipient domain, and with it the other
    domains of the same mailbox provider (a rule for gmail.com also covers googlemail.com)."""

    domain: HeaderSafeStr = Field(
        min_length=3, max_length=HOST_MAX, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
    )
    limits: SendingLimits


class ServerIdentity(Contract):
    """Who a server sends as. The DKIM private key is never part of it: the delivery worker gets the key
    with the connection settings (`ServerConnectionSettings.identity.dkim_private_key`)."""

    from_domains: list[Host] = Field(
        max_length=FROM_DOMAINS_MAX, description="Domains the server may send From."
    )
    dkim_selector: Annotated[HeaderSafeStr, Field(max_length=HOST_MAX)] | None = Field(
        None, description="Selector of the DKIM key (`<selector>._domainkey.<domain>`); None: no signing."
    )
    return_path_domain: Host | None = Field(
        None, description="Domain of the envelope sender (Return-Path), where bounces go."
    )


class BounceHandling(Contract):
    """Rates at which the bounces service asks the catalog to pause a server (`PauseServerRequest`).

    A rate is bounced (or complained) messages over sent messages; it counts only once at least
    `min_volume` messages were sent, so a handful of early bounces does not pause a server.
    """

    max_bounce_rate: float | None = Field(0.05, gt=0, le=1, description="None: never pause for bounces.")
    max_complaint_rate: float | None = Field(
        0.001, gt=0, le=1, description="None: never pause for complaints."
    )
    min_volume: int = Field(200, ge=1, description="Sent messages before the rates count.")

    def over_limits(self, sent: int, bounced: int, complained: int) -> list[Literal["bounce", "complaint"]]:
        """The limits these counts (over one window) are above: none before `min_volume` sent, and a
        rate equal to its limit is within it. The bounces service pauses on it, the pool views show it."""
        if sent < self.min_volume:
            return []
        over: list[Literal["bounce", "complaint"]] = []
        # Compared as quotients: bounced / sent rounds exactly as the limit does when both are equal.
        if self.max_bounce_rate is not None and bounced / sent > self.max_bounce_rate:
            over.append("bounce")
        if self.max_complaint_rate is not None and complained / sent > self.max_complaint_rate:
            over.append("complaint")
        return over


class IdentityCheckName(StrEnum):
    DKIM = "dkim"
    RETURN_PATH_MX = "return_path_mx"
    SPF = "spf"
    DMARC = "dmarc"
    ALIGNMENT = "alignment"


class IdentityCheck(Contract):
    """One DNS check of a server's sending identity, for one domain."""

    name: IdentityCheckName
    domain: Host
    ok: bool
    found: Reason | None = Field(None, description="What DNS answered (a record, or why there was none).")
    publish: Reason | None = Field(None, description="What to publish to pass, when the check failed.")
    detail: Reason = Field("", description="Why the check passed or failed, in a sentence.")


class IdentityVerification(Contract):
    """The last DNS verification of a server's identity (`POST /servers/{id}/verify` re-runs it)."""

    verified: bool = Field(description="Every check passed.")
    checked_at: datetime
    # Five checks per From domain at most: dkim, dmarc, alignment, and without a Return-Path domain
    # its MX and SPF too (with one, those two are checked once).
    checks: list[IdentityCheck] = Field(default_factory=list, max_length=5 * FROM_DOMAINS_MAX)


class ServerReputation(Contract):
    """A server's bounce and complaint rates over the bounces service's sliding window.

    Reported by the bounces service (`ServerReputationReport`), kept by the catalog, shown in the pool views."""

    window_hours: int = Field(ge=1)
    sent: int = Field(ge=0)
    bounced: int = Field(ge=0)
    complained: int = Field(ge=0)
    bounce_rate: float | None = Field(
        None, ge=0, description="bounced / sent; None before anything was sent."
    )
    complaint_rate: float | None = Field(
        None, ge=0, description="complained / sent; None before anything was sent."
    )
    measured_at: datetime


class ServerView(Contract):
    """A sending server as other services see it: no connection settings, no secrets."""

    id: UUID
    tenant_id: UUID | None = Field(None, description="Owner; None for a pool server the operator owns.")
    name: Name
    type: Label
    vendor: Label
    state: ServerState
    limits: SendingLimits = Field(default_factory=SendingLimits)
    warmup: WarmupSchedule | None = None
    destination_rules: list[DestinationRule] = Field(default_factory=list, max_length=DESTINATION_RULES_MAX)
    identity: ServerIdentity | None = None
    bounce_handling: BounceHandling = Field(default_factory=BounceHandling)
    pause_reason: Reason | None = Field(None, description="Why the server is paused (state `paused` only).")
    identity_verification: IdentityVerification | None = Field(
        None, description="The last DNS check of its identity; None: never checked (or no identity)."
    )
    reputation: ServerReputation | None = Field(
        None, description="Bounce and complaint rates the bounces service last reported; None: none yet."
    )
    version: int = 1

    def refusal(self, open_circuit: str | None = None) -> str | None:
        """Why nothing may be sent through this server now, or None: the one rule the router
        (which drains such a server's queue) and the delivery workers (which stop consuming it)
        both follow. `open_circuit` is the reason its circuit breaker opened, if it is open."""
        if self.state is not ServerState.ACTIVE:
            return f"the server is {self.state.value}"
        return circuit_refusal(open_circuit)


def circuit_refusal(open_circuit: str | None) -> str | None:
    """Why nothing may be sent through a server whose circuit breaker opened for `open_circuit`;
    None while it is closed. Part of `ServerView.refusal`, and all of it for a server whose view
    has not arrived yet."""
    return None if open_circuit is None else f"the server's circuit breaker is open: {open_circuit}"


class PlanView(Contract):
    id: UUID
    name: Name
    server_ids: ServerIds = Field(default_factory=list)
    allow_own_servers: bool = True
    server_quota: int | None = None
    managed_pool: bool = Field(
        False,
        description="The operator manages the pool: tenants send through every granted server and "
        "can neither add their own nor narrow a campaign's selection.",
    )


class TenantView(Contract):
    id: UUID
    name: Name
    plan_id: UUID | None = None


class WeightedServer(Contract):
    server_id: UUID
    weight: float = Field(1.0, gt=0)


class SendingPolicy(Contract):
    """A campaign's "Sending servers" section: every usable server at random, or a weighted selection."""

    campaign_id: UUID
    tenant_id: UUID
    use_all: bool = True
    selection: list[WeightedServer] = Field(default_factory=list, max_length=SERVERS_MAX)
    version: int = 0


class CatalogEventKind(StrEnum):
    SERVER_CHANGED = "catalog.server.changed"
    SERVER_DELETED = "catalog.server.deleted"
    PLAN_CHANGED = "catalog.plan.changed"
    TENANT_CHANGED = "catalog.tenant.changed"
    POLICY_CHANGED = "catalog.policy.changed"
    TOKEN_REVOKED = "catalog.token.revoked"


class RevokedToken(Contract):
    """A tenant token revoked in the catalog: every service serving HTTP refuses it from then on."""

    token_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The part after the tenant's id.")
    tenant_id: UUID
    expires_at: datetime | None = Field(None, description="When it expires anyway; None: never.")
    revoked_at: datetime


class CatalogEvent(Contract):
    """A change in the catalog, published through its outbox on sendpool.catalog (routing key = kind)."""

    schema_version: Literal[1] = 1
    event_id: int
    kind: CatalogEventKind
    server: ServerView | None = None
    plan: PlanView | None = None
    tenant: TenantView | None = None
    policy: SendingPolicy | None = None
    deleted_id: UUID | None = None
    token: RevokedToken | None = Field(None, description="The revoked token (`catalog.token.revoked`).")
    occurred_at: datetime = Field(default_factory=utcnow)


class CatalogSnapshot(Contract):
    """The routing-relevant state of the whole catalog, for a consumer starting cold.

    Its lists grow with the catalog, not with one caller's input (each item is bounded), and it
    travels as an RPC reply, never through the outbox."""

    last_event_id: int
    servers: list[ServerView]
    plans: list[PlanView]
    tenants: list[TenantView]


class CampaignSendersRequest(Contract):
    """scheduler → catalog.rpc: the servers campaign `campaign_id` of `tenant_id` may send through
    (its policy's selection if narrowed, else every server the tenant may use) and the From domains
    each declares. Asked at launch and at scheduling; answered with a `CampaignSenders`."""

    kind: Literal["campaign_senders"] = "campaign_senders"
    campaign_id: UUID
    tenant_id: UUID


class CampaignSender(Contract):
    server_id: UUID
    from_domains: list[Host] = Field(
        default_factory=list,
        max_length=FROM_DOMAINS_MAX,
        description="The server's identity.from_domains; empty: it declares none.",
    )


class CampaignSenders(Contract):
    campaign_id: UUID
    servers: list[CampaignSender] = Field(default_factory=list, max_length=SERVERS_MAX)


# --------------------------------------------------------------------------- RPC


class SnapshotRequest(Contract):
    kind: Literal["snapshot"] = "snapshot"


class PolicyRequest(Contract):
    kind: Literal["policy"] = "policy"
    campaign_id: UUID
    tenant_id: UUID


class ServerSettingsRequest(Contract):
    kind: Literal["server_settings"] = "server_settings"
    server_id: UUID


class CampaignOwnerRequest(Contract):
    """catalog → scheduler (RPC on `scheduler.rpc`): which tenant owns campaign `campaign_id`?

    The scheduler creates campaigns and chooses their ids, so it alone can say; the catalog asks
    before it stores a campaign's sending policy. Answered with a `CampaignOwner`."""

    kind: Literal["campaign_owner"] = "campaign_owner"
    campaign_id: UUID


class CampaignOwner(Contract):
    campaign_id: UUID
    tenant_id: UUID | None = Field(description="The owning tenant; None: no such campaign.")


class PauseServerRequest(Contract):
    """A command to the catalog (e.g. from the bounces service past a server's thresholds): pause a server.

    Answered, when the request has a reply-to, with the server's `ServerView` or an `RpcError`."""

    kind: Literal["pause_server"] = "pause_server"
    server_id: UUID
    reason: HeaderSafeStr = Field(min_length=1, max_length=500)
    requested_by: Label = Field("bounces", description="Who asks, kept with the pause.")


class ServerReputationReport(Contract):
    """bounces → catalog.rpc (no reply): a server's current rates, kept for the pool views."""

    kind: Literal["server_reputation"] = "server_reputation"
    server_id: UUID
    reputation: ServerReputation


class SuppressionCheck(Contract):
    """scheduler, delivery → bounces.rpc: which of these addresses may not be mailed for this tenant.

    Answered with a `SuppressionCheckReply`. Asked once per batch (an expansion batch, a delivery
    batch), never per recipient."""

    kind: Literal["suppression_check"] = "suppression_check"
    tenant_id: UUID
    addresses: list[Annotated[str, Field(max_length=EMAIL_ADDRESS_MAX)]] = Field(
        max_length=MAX_BATCH_RECIPIENTS
    )


class SuppressionCheckReply(Contract):
    suppressed: dict[str, Reason] = Field(
        default_factory=dict,
        description="The suppressed ones among the addresses asked about, as asked, with why "
        "(the tenant's list or the global one).",
    )


class ServerIdentitySettings(Contract):
    """A server's identity as its delivery worker gets it: `ServerIdentity` and the DKIM private key in
    clear. The worker checks each value before it signs or addresses with it; a blank one counts as absent."""

    from_domains: list[Annotated[str, Field(max_length=HOST_MAX)]] = Field(
        default_factory=list, max_length=FROM_DOMAINS_MAX, description="Domains the server may send From."
    )
    dkim_selector: str | None = Field(
        None, max_length=HOST_MAX, description="Selector of the DKIM key; None: no signing."
    )
    dkim_private_key: str | None = Field(
        None, max_length=PEM_MAX, repr=False, description="PEM; None: no signing."
    )
    return_path_domain: str | None = Field(
        None, max_length=HOST_MAX, description="Domain of the envelope sender (Return-Path)."
    )


class ServerConnectionSettings(Contract):
    """A server's settings with secrets in clear, for the delivery worker only (point to point, never
    an event): its identity, if it has one, and the values of its type (host, credentials, ...) as
    extra fields, which the type's adapter reads with a model of its own (`type_settings`)."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)

    # Left out when None, as the catalog leaves it out of the settings of a server without one.
    identity: ServerIdentitySettings | None = Field(None, exclude_if=lambda identity: identity is None)

    @property
    def type_settings(self) -> dict[str, Any]:
        """The values of the server's type: every field but the identity."""
        return dict(self.model_extra or {})

    def __repr_args__(self) -> Any:
        # Credentials in clear: a repr (a log line, a failed assertion) names them, never shows them.
        yield "identity", self.identity
        yield from ((name, "...") for name in self.model_extra or {})


class ServerSettingsReply(Contract):
    """Connection settings with secrets in clear, for the delivery worker only (point to point, never an event)."""

    model_config = ConfigDict(hide_input_in_errors=True)  # never repeat a secret in a validation error

    server_id: UUID
    type: Label
    vendor: Label
    settings: ServerConnectionSettings
    version: int


class AdmissionRequest(Contract):
    """delivery → router (RPC on `router.admissions`): a counted message reached its worker late;
    move its count from when it was routed to now, if the server's limits have room now.

    Without it, messages queued while no worker could take them (all replicas restarting, say)
    would go out as fast as the worker drains them, though each was counted when it was routed."""

    kind: Literal["admission"] = "admission"
    server_id: UUID
    recipient: Address
    routed_at: datetime


class AdmissionReply(Contract):
    admitted: bool
    retry_at: datetime | None = Field(
        None, description="When the server's limits have room again (if refused)."
    )
    reason: Reason = Field("", description="Why it was refused: the limit at its cap.")


class CampaignHoldsRequest(Contract):
    """delivery → router (RPC on `router.campaign-holds`), from a worker starting: which campaigns
    must not be sent now (then `campaign_paused/resumed/cancelled` events keep the worker current)."""

    kind: Literal["campaign_holds"] = "campaign_holds"


CAMPAIGN_HOLDS_MAX = 1_000_000
"""The most campaigns one answer lists of each kind (far more than are paused, or cancelled within a week)."""


class CampaignHolds(Contract):
    paused: list[UUID] = Field(
        default_factory=list,
        max_length=CAMPAIGN_HOLDS_MAX,
        description="Paused now: their queued messages go back to routing, which holds them.",
    )
    cancelled: list[UUID] = Field(
        default_factory=list,
        max_length=CAMPAIGN_HOLDS_MAX,
        description="Cancelled lately: their queued messages are dropped, reported `cancelled`.",
    )


class RevokedTokensRequest(Contract):
    """→ catalog.rpc, from a service starting: which tenant tokens are revoked (and not expired yet)."""

    kind: Literal["revoked_tokens"] = "revoked_tokens"


class RevokedTokensReply(Contract):
    # Issuing tokens is the operator's alone, so this grows only with the tokens the operator issued.
    tokens: list[RevokedToken] = Field(max_length=1_000_000)


class RpcError(Contract):
    """The reply to an RPC request that has no answer (e.g. an unknown server), saying why."""

    error: Reason


class ProbeRequest(Contract):
    """catalog → delivery.probe.<vendor>: test a server's connection for real, or push one test message.

    It names the server and carries no settings: the probe queue is a quorum queue (on disk), so the
    worker fetches the server's secrets point to point (`ServerSettingsRequest`) when it runs the probe."""

    server_id: UUID
    type: str
    test_recipient: HeaderSafeStr | None = None
    test_content: MessageContent | None = None


class ProbeResult(Contract):
    ok: bool
    message: Reason


# --------------------------------------------------------------------------- what consumers accept
#
# A batch, or the single message earlier versions published (one may still wait in a queue, a
# wait queue or sendpool.dead when this version starts): consumers take both, as a list.


def _batch_or_single(many: str, one: type[BaseModel]) -> Any:
    def kind(body: Any) -> str | None:
        if isinstance(body, dict):
            return "batch" if many in body else "single"
        return "single" if isinstance(body, one) else "batch"

    return kind


IncomingSends = Annotated[
    Annotated[SendBatch, Tag("batch")] | Annotated[SendRequested, Tag("single")],
    Discriminator(_batch_or_single("recipients", SendRequested)),
]
"""What `sendpool.send` carries: a `SendBatch` (or a `SendRequested` from an earlier version)."""

IncomingDeliveries = Annotated[
    Annotated[DeliveryBatch, Tag("batch")] | Annotated[DeliveryRequested, Tag("single")],
    Discriminator(_batch_or_single("batch", DeliveryRequested)),
]
"""What a server's queue carries: a `DeliveryBatch` (or a `DeliveryRequested` from an earlier version)."""


def _status_kind(body: Any) -> str | None:
    if isinstance(body, dict):
        if "kind" in body:
            return "campaign"
        return "batch" if "events" in body else "single"
    kinds: dict[type, str] = {StatusBatch: "batch", StatusEvent: "single", CampaignEvent: "campaign"}
    return kinds.get(type(body))


IncomingStatuses = Annotated[
    Annotated[StatusBatch, Tag("batch")]
    | Annotated[StatusEvent, Tag("single")]
    | Annotated[CampaignEvent, Tag("campaign")],
    Discriminator(_status_kind),
]
"""What `sendpool.status` carries: a `StatusBatch`, a `CampaignEvent` (or a `StatusEvent` from an earlier version)."""


def sends_of(body: SendBatch | SendRequested) -> list[SendRequested]:
    return body.sends() if isinstance(body, SendBatch) else [body]


def deliveries_of(body: DeliveryBatch | DeliveryRequested) -> list[DeliveryRequested]:
    return body.requests() if isinstance(body, DeliveryBatch) else [body]


def status_events_of(body: StatusBatch | StatusEvent) -> list[StatusEvent]:
    return list(body.events) if isinstance(body, StatusBatch) else [body]
