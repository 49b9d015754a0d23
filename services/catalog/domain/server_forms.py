"""The settings form of every built-in server type: what a caller fills in, validated before anything is stored.

Fields typed `SecretStr` are the secret ones: encrypted at rest, write-only in the API (`writeOnly`
in the JSON Schema). The names are the delivery workers' too (docs/architecture.md, "Server
types"): a worker reads the settings it is given by these names. Vendor SMTP types take an
optional `host`/`port` override and API types an optional `base_url`, for a regional endpoint,
a proxy or a local test double. Fields marked `DESTINATION` say where the server connects.
"""

import base64
import binascii
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, SecretStr, field_validator
from pydantic.json_schema import SkipJsonSchema

from services.catalog.domain.names import (
    DomainName,
    HeaderSafeText,
    HostName,
    Port,
    Token,
    refuse_whitespace,
)
from shared.limits import SECRET_MAX, URL_MAX

DESTINATION_MARK = "x-destination"
DESTINATION: dict[str, Any] = {DESTINATION_MARK: True}
"""`json_schema_extra` of a field that says where the server connects: a stored secret never follows a
new value of it, so a change of it must give the type's secrets again."""


def _http_url(value: str) -> str:
    refuse_whitespace(value)
    parts = urlsplit(value)
    # https only: an API key or a refresh token sent in clear could be read on the way, and a plain
    # http URL is how internal services (metadata endpoints, admin consoles) are usually reached.
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL with a host, e.g. https://api.example.com")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or a fragment: it is the base the API paths are added to")
    # Workers append API paths to it; a trailing slash would double the one those paths start with.
    return value.rstrip("/")


UserName = Annotated[HeaderSafeText, Field(min_length=1, max_length=256)]
BaseUrl = Annotated[
    str,
    Field(max_length=URL_MAX, description="Override of the vendor's API endpoint (a proxy, a test double)."),
    AfterValidator(_http_url),
]
AwsRegion = Annotated[
    str,
    Field(
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$",
        examples=["eu-west-1"],
        description="AWS region.",
        json_schema_extra=DESTINATION,
    ),
]
VendorRegion = Annotated[
    Literal["us", "eu"],
    Field(description="The vendor's region: `us` or `eu`.", json_schema_extra=DESTINATION),
]

HOST_OVERRIDE = "Override of the vendor's SMTP host (a regional endpoint, a proxy, a test double)."


class ServerSettingsModel(BaseModel):
    """Base of every type's settings: unknown fields are refused so that a typo is not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class VendorSmtpSettings(ServerSettingsModel):
    """A vendor's SMTP relay: STARTTLS to the vendor's host, unless overridden."""

    host: HostName | None = Field(None, description=HOST_OVERRIDE, json_schema_extra=DESTINATION)
    port: Port = Field(587, description="SMTP submission port.", json_schema_extra=DESTINATION)


class VendorApiSettings(ServerSettingsModel):
    base_url: BaseUrl | None = Field(None, json_schema_extra=DESTINATION)


def _sendgrid_public_key(value: str) -> str:
    # As SendGrid shows it: base64 of the DER key; a PEM copy is taken too, its armour dropped.
    text = "".join(line for line in value.strip().splitlines() if not line.startswith("-----"))
    try:
        key = load_der_public_key(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError(
            "must be the public key SendGrid shows for the signed event webhook (base64)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("must be an ECDSA P-256 public key, as SendGrid's signed event webhook uses")
    return text


SnsTopicArn = Annotated[
    str,
    Field(
        max_length=256,
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$",
        examples=["arn:aws:sns:eu-west-1:123456789012:ses-feedback"],
    ),
]
# A token a person chooses is the only proof that such a request comes from the vendor: long enough
# not to be guessed.
WEBHOOK_TOKEN_MIN = 16

# Vendor webhook keys: what the bounces service checks each vendor's event webhook against
# (POST /webhooks/<vendor>/<server_id>). Optional: a server without one refuses its webhooks.


class SesWebhookSettings(ServerSettingsModel):
    sns_topic_arns: list[SnsTopicArn] = Field(
        [],
        max_length=20,
        description="The SNS topics whose notifications this server's webhook takes (SES bounce and "
        "complaint notifications). Empty: any topic whose messages SNS signed; set them, or another AWS "
        "account's topic could subscribe the webhook.",
    )


class SendgridWebhookSettings(ServerSettingsModel):
    webhook_verification_key: (
        Annotated[str, Field(max_length=1024), AfterValidator(_sendgrid_public_key)] | None
    ) = Field(
        None,
        description="The public key of SendGrid's signed event webhook (Settings > Mail Settings > Event "
        "Webhook > Signature Verification), as SendGrid shows it. Not a secret.",
    )


class MailgunWebhookSettings(ServerSettingsModel):
    webhook_signing_key: SecretStr | None = Field(
        None,
        min_length=8,
        max_length=256,
        description="Mailgun's HTTP webhook signing key (Settings > Webhooks), which signs every webhook.",
    )


class SparkpostWebhookSettings(ServerSettingsModel):
    webhook_auth_token: SecretStr | None = Field(
        None,
        min_length=WEBHOOK_TOKEN_MIN,
        max_length=256,
        description="A random value of at least 16 characters, set on the SparkPost webhook as the password "
        "of its Basic authentication (any user name) or as its legacy auth token "
        "(X-MessageSystems-Webhook-Token).",
    )


class ElasticemailWebhookSettings(ServerSettingsModel):
    webhook_token: SecretStr | None = Field(
        None,
        min_length=WEBHOOK_TOKEN_MIN,
        max_length=256,
        description="A random value of at least 16 characters, given as the `token` query parameter of the "
        "notification URL set at Elastic Email (its notifications are not signed).",
    )


class SmtpSettings(ServerSettingsModel):
    """Any SMTP relay: your own MTA, a smarthost, or a provider not listed."""

    host: HostName = Field(json_schema_extra=DESTINATION)
    port: Port = Field(587, json_schema_extra=DESTINATION)
    encryption: Literal["tls", "ssl", "none"] = Field(
        "tls", description="`tls` requires STARTTLS, `ssl` connects over TLS, `none` sends in clear."
    )
    username: UserName | None = None
    password: SecretStr | None = Field(None, max_length=SECRET_MAX)
    verify_certificate: bool = Field(True, description="Refuse a server whose certificate does not verify.")


class SesApiSettings(SesWebhookSettings, VendorApiSettings):
    """Amazon SES v2 SendEmail (raw MIME), signed with an IAM access key."""

    access_key_id: Token
    secret_access_key: SecretStr = Field(max_length=SECRET_MAX)
    region: AwsRegion
    configuration_set: Token | None = Field(None, description="SES configuration set for event publishing.")


class SesSmtpSettings(SesWebhookSettings, VendorSmtpSettings):
    """Amazon SES SMTP interface (host `email-smtp.<region>.amazonaws.com`) with SMTP credentials."""

    region: AwsRegion
    username: UserName = Field(description="SES SMTP user name (not the IAM access key id).")
    password: SecretStr = Field(max_length=SECRET_MAX, description="SES SMTP password.")


class SendgridApiSettings(SendgridWebhookSettings, VendorApiSettings):
    """SendGrid v3 mail send."""

    api_key: SecretStr = Field(max_length=SECRET_MAX)


class SendgridSmtpSettings(SendgridWebhookSettings, VendorSmtpSettings):
    """SendGrid SMTP relay (`smtp.sendgrid.net:587`, user `apikey`)."""

    api_key: SecretStr = Field(max_length=SECRET_MAX)


class MailgunApiSettings(MailgunWebhookSettings, VendorApiSettings):
    """Mailgun messages API for one sending domain."""

    api_key: SecretStr = Field(max_length=SECRET_MAX)
    domain: DomainName = Field(description="The Mailgun sending domain.")
    region: VendorRegion = "us"


class MailgunSmtpSettings(MailgunWebhookSettings, VendorSmtpSettings):
    """Mailgun SMTP (`smtp.mailgun.org`, or `smtp.eu.mailgun.org` in the EU region)."""

    username: UserName
    password: SecretStr = Field(max_length=SECRET_MAX)
    region: VendorRegion = "us"


class SparkpostApiSettings(SparkpostWebhookSettings, VendorApiSettings):
    """SparkPost transmissions API."""

    api_key: SecretStr = Field(max_length=SECRET_MAX)
    region: VendorRegion = "us"


class SparkpostSmtpSettings(SparkpostWebhookSettings, VendorSmtpSettings):
    """SparkPost SMTP (`smtp.sparkpostmail.com:587`, user `SMTP_Injection`)."""

    api_key: SecretStr = Field(max_length=SECRET_MAX)
    region: VendorRegion = "us"


class ElasticemailApiSettings(ElasticemailWebhookSettings, VendorApiSettings):
    """Elastic Email v4 emails API."""

    api_key: SecretStr = Field(max_length=SECRET_MAX)


class ElasticemailSmtpSettings(ElasticemailWebhookSettings, VendorSmtpSettings):
    """Elastic Email SMTP (`smtp.elasticemail.com:2525`)."""

    port: Port = Field(2525, description="SMTP port.", json_schema_extra=DESTINATION)
    username: UserName
    password: SecretStr = Field(max_length=SECRET_MAX)


class SendmailSettings(ServerSettingsModel):
    """Hand messages to a local sendmail-compatible binary (Postfix, Exim, OpenSMTPD, msmtp).

    The binary is the one the operator configures on the sendmail workers (SENDPOOL_DELIVERY_SENDMAIL_PATH).
    """

    # Which program runs on the shared worker is the operator's choice, never a server's. Kept as a
    # field only to refuse it by name: an older client's `path` learns where the setting went.
    path: SkipJsonSchema[None] = Field(None, exclude=True)

    @field_validator("path", mode="before")
    @classmethod
    def _chosen_by_the_operator(cls, value: object) -> None:
        raise ValueError(
            "the sendmail program is set by the operator (SENDPOOL_DELIVERY_SENDMAIL_PATH on the sendmail "
            "workers), not per server; leave path out"
        )


class GmailOauthSettings(VendorSmtpSettings):
    """Gmail or Google Workspace over SMTP with XOAUTH2 (`smtp.gmail.com:587`); the access token is
    refreshed from the refresh token as needed."""

    email: EmailStr = Field(description="The Google account the messages are sent as.")
    client_id: Token = Field(description="OAuth client id of your Google Cloud project.")
    client_secret: SecretStr = Field(max_length=SECRET_MAX)
    refresh_token: SecretStr = Field(max_length=SECRET_MAX)
    token_url: Annotated[str, Field(max_length=URL_MAX), AfterValidator(_http_url)] = Field(
        "https://oauth2.googleapis.com/token",
        description="Google's OAuth token endpoint; another only for a proxy or a test double.",
        json_schema_extra=DESTINATION,
    )


class DirectMxSettings(ServerSettingsModel):
    """Deliver straight to each recipient domain's MX hosts (a local MTA's job), with opportunistic STARTTLS."""

    helo_hostname: HostName | None = Field(
        None,
        description="The name given in EHLO: this host's public name, matching its reverse DNS; "
        "by default the worker's SENDPOOL_DELIVERY_SMTP_HELO_HOSTNAME or its machine name.",
    )
