"""How large anything a caller sends may be: one place for the HTTP APIs and the message contracts.

Every string, list and map a tenant or an operator can fill has a maximum, so that no single
request, stored row or message can grow without end: a request body too large to parse cheaply,
a server view too large for the broker (which would stop the catalog's ordered outbox), a batch
no worker can hold. The HTTP request models and the contracts both cite these constants, so a
value the API accepts always fits the contract that carries it on. `docs/security.md` lists them.
"""

NAME_MAX = 200
"""Characters of a name a person gives: a tenant, a plan, a server, a list, a campaign, a recipient."""

HOST_MAX = 253
"""Characters of a host or domain name (RFC 1035: 253 in text form)."""

EMAIL_ADDRESS_MAX = 254
"""Characters of an email address: RFC 5321 allows a path of 256 octets, angle brackets included."""

SUBJECT_MAX = 998
"""Characters of a subject: RFC 5322's limit of a header line (before folding)."""

HEADER_VALUE_MAX = 2000
"""Characters of another header value a caller sets (the List-Unsubscribe URL, a from name)."""

BODY_MAX = 1024 * 1024
"""Characters of a campaign's text body, and again of its HTML body: 1 MiB each. Far above what a
receiver displays (Gmail clips HTML after about 100 kB), and small enough that every message of a
campaign (which carries its content) travels through RabbitMQ and PostgreSQL without strain."""

REASON_MAX = 2000
"""Characters of a reason or a reply kept with a decision (a pause, an exclusion, an error)."""

SECRET_MAX = 8192
"""Characters of a secret field of a server's settings: a password, an API key, a refresh token."""

URL_MAX = 2000
"""Characters of a URL a caller gives (an API's base URL, a token endpoint)."""

PEM_MAX = 16_384
"""Characters of a PEM key (a DKIM private key: RSA 4096 is about 3.3 kB)."""

FROM_DOMAINS_MAX = 100
"""Domains one server may send From."""

DESTINATION_RULES_MAX = 500
"""Destination rules of one server (one per receiving domain worth a limit of its own)."""

SERVERS_MAX = 1000
"""Servers one list may name: a plan's grant, a campaign's weighted selection, an exclusion list."""

SERVER_SETTINGS_FIELDS_MAX = 50
"""Fields of a server's settings form (the largest built-in type has a handful)."""

WARMUP_DAYS_MAX = 365
"""Days of a warmup ramp, and entries of a warmup table."""

SENDS_MAX = 1_000_000_000
"""A sending limit or warmup volume: far above any vendor's cap, and far inside the 64-bit counters
the router sums them in (a larger number is a 422, not an overflow)."""

RECIPIENTS_PER_REQUEST_MAX = 10_000
"""Recipients one `POST /lists/{id}/recipients` adds."""

HTTP_MAX_BODY_BYTES = 4 * 1024 * 1024
"""Default cap of an HTTP request body: a campaign with both bodies at `BODY_MAX` fits (JSON
escaping included, for mostly ASCII content); nothing else comes close."""

HTTP_MAX_IMPORT_BODY_BYTES = 8 * 1024 * 1024
"""Default cap of a recipient import's body: `RECIPIENTS_PER_REQUEST_MAX` recipients, each with an
address and a name at their maxima, fit."""

CATALOG_EVENT_MAX_BYTES = 4 * 1024 * 1024
"""Default size above which the catalog's outbox relay parks an event instead of publishing it:
far below RabbitMQ's `max_message_size` (128 MiB by default up to 3.13, 16 MiB from 4.0), far
above the largest server view the bounds above allow (about 200 kB)."""

OUTBOX_MESSAGE_MAX_BYTES = 4 * 1024 * 1024
"""The largest message the router's and the scheduler's outboxes record (`shared.outbox.record`
refuses a larger one): the same margin below RabbitMQ's `max_message_size` as the catalog's."""

RECIPIENT_FIELDS_MAX = 50
"""Custom fields one recipient may carry (merge fields for personalization)."""

FIELD_NAME_MAX = 64
"""A custom field's name: an identifier a template can name (`{{ plan }}`)."""

FIELD_VALUE_MAX = 1000
"""A custom field's value, as text."""
