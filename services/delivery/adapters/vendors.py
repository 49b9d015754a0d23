"""Which adapter sends for which server type: one entry per type of the catalog's registry
(docs/architecture.md, "Server types")."""

from collections.abc import Callable
from typing import Any, TypeVar

from services.delivery.adapters.direct_mx import DirectMxSender, DirectMxSettings, MxOptions
from services.delivery.adapters.elasticemail_api import ElasticemailApi, ElasticemailApiSettings
from services.delivery.adapters.gmail import GmailSender, GmailSettings
from services.delivery.adapters.http_api import HttpApiSender, HttpOptions, VendorApi
from services.delivery.adapters.mailgun_api import MailgunApi, MailgunApiSettings
from services.delivery.adapters.sendgrid_api import SendgridApi, SendgridApiSettings
from services.delivery.adapters.sendmail import DEFAULT_PATH as DEFAULT_SENDMAIL_PATH
from services.delivery.adapters.sendmail import SendmailSender
from services.delivery.adapters.server_settings import AdapterSettings, parse_server_settings
from services.delivery.adapters.ses_api import SesApi, SesApiSettings
from services.delivery.adapters.smtp import SmtpOptions, SmtpSender
from services.delivery.adapters.sparkpost_api import SparkpostApi, SparkpostApiSettings
from services.delivery.adapters.vendor_smtp import (
    ElasticemailSmtpSettings,
    MailgunSmtpSettings,
    RelaySettings,
    SendgridSmtpSettings,
    SesSmtpSettings,
    SparkpostSmtpSettings,
)
from services.delivery.app.ports import Sender, UnusableServer
from shared.contracts import ServerConnectionSettings

Build = Callable[[dict[str, Any]], Sender]
"""Builds a sender from the values of the server's type (`ServerConnectionSettings.type_settings`)."""

A = TypeVar("A", bound=AdapterSettings)


class VendorSenders:
    """The worker's `SenderFactory`: builds a server's sender from the settings its type defines."""

    def __init__(
        self,
        smtp: SmtpOptions,
        *,
        http: HttpOptions | None = None,
        mx: MxOptions | None = None,
        sendmail_path: str = DEFAULT_SENDMAIL_PATH,
    ) -> None:
        http = http or HttpOptions(
            max_connections=smtp.max_connections,
            timeout_seconds=smtp.timeout_seconds,
            egress=smtp.egress,
            tls_ca_file=smtp.tls_ca_file,
        )
        mx = mx or MxOptions()

        def relay(server_type: str, model: type[RelaySettings]) -> Build:
            return lambda settings: SmtpSender(
                parse_server_settings(model, settings, server_type).smtp_settings(), smtp
            )

        def api(server_type: str, model: type[A], make_api: Callable[[A], VendorApi]) -> Build:
            return lambda settings: HttpApiSender(
                make_api(parse_server_settings(model, settings, server_type)), http
            )

        self._builders: dict[str, Build] = {
            "smtp": lambda settings: SmtpSender.from_settings(settings, smtp),
            "ses_api": api("ses_api", SesApiSettings, SesApi),
            "ses_smtp": relay("ses_smtp", SesSmtpSettings),
            "sendgrid_api": api("sendgrid_api", SendgridApiSettings, SendgridApi),
            "sendgrid_smtp": relay("sendgrid_smtp", SendgridSmtpSettings),
            "mailgun_api": api("mailgun_api", MailgunApiSettings, MailgunApi),
            "mailgun_smtp": relay("mailgun_smtp", MailgunSmtpSettings),
            "sparkpost_api": api("sparkpost_api", SparkpostApiSettings, SparkpostApi),
            "sparkpost_smtp": relay("sparkpost_smtp", SparkpostSmtpSettings),
            "elasticemail_api": api("elasticemail_api", ElasticemailApiSettings, ElasticemailApi),
            "elasticemail_smtp": relay("elasticemail_smtp", ElasticemailSmtpSettings),
            # The program is the worker's (the operator's) setting; a server has none to give.
            "sendmail": lambda settings: SendmailSender(sendmail_path, timeout_seconds=smtp.timeout_seconds),
            "gmail_oauth": lambda settings: GmailSender(
                parse_server_settings(GmailSettings, settings, "gmail_oauth"), smtp
            ),
            "direct_mx": lambda settings: DirectMxSender(
                parse_server_settings(DirectMxSettings, settings, "direct_mx"), smtp, mx
            ),
        }

    @property
    def server_types(self) -> frozenset[str]:
        return frozenset(self._builders)

    def __call__(self, server_type: str, settings: ServerConnectionSettings) -> Sender:
        try:
            build = self._builders[server_type]
        except KeyError:
            known = ", ".join(sorted(self._builders))
            raise UnusableServer(
                f"no sender for server type {server_type!r} (this worker knows: {known})"
            ) from None
        return build(settings.type_settings)
