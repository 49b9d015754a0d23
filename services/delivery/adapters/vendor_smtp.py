"""The vendors' SMTP relays (types `ses_smtp`, `sendgrid_smtp`, `mailgun_smtp`, `sparkpost_smtp`,
`elasticemail_smtp`): each is the generic SMTP adapter with the vendor's host, port and login.

Every relay is reached over STARTTLS with a verified certificate, as the vendors require. A
`host` or `port` in the settings overrides the vendor's (a regional endpoint, a proxy, a test
double).
"""

from abc import abstractmethod
from typing import Literal

from pydantic import Field, SecretStr

from services.delivery.adapters.server_settings import AdapterSettings
from services.delivery.adapters.smtp import SmtpSettings


class RelaySettings(AdapterSettings):
    host: str | None = Field(None, min_length=1, pattern=r"^\S+$")
    port: int | None = Field(None, ge=1, le=65535)

    @abstractmethod  # pydantic's model metaclass is an ABCMeta: a relay without it cannot be built
    def smtp_settings(self) -> SmtpSettings: ...

    def _relay(self, host: str, port: int, username: str, password: SecretStr) -> SmtpSettings:
        return SmtpSettings(
            host=self.host or host,
            port=self.port or port,
            encryption="tls",
            username=username,
            password=password,
            verify_certificate=True,
        )


class SesSmtpSettings(RelaySettings):
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    username: str = Field(min_length=1)
    password: SecretStr
    port: int | None = Field(587, ge=1, le=65535)

    def smtp_settings(self) -> SmtpSettings:
        return self._relay(f"email-smtp.{self.region}.amazonaws.com", 587, self.username, self.password)


class SendgridSmtpSettings(RelaySettings):
    api_key: SecretStr

    def smtp_settings(self) -> SmtpSettings:
        return self._relay("smtp.sendgrid.net", 587, "apikey", self.api_key)


class MailgunSmtpSettings(RelaySettings):
    username: str = Field(min_length=1)
    password: SecretStr
    region: Literal["us", "eu"] = "us"

    def smtp_settings(self) -> SmtpSettings:
        host = {"us": "smtp.mailgun.org", "eu": "smtp.eu.mailgun.org"}[self.region]
        return self._relay(host, 587, self.username, self.password)


class SparkpostSmtpSettings(RelaySettings):
    api_key: SecretStr
    region: Literal["us", "eu"] = "us"

    def smtp_settings(self) -> SmtpSettings:
        host = {"us": "smtp.sparkpostmail.com", "eu": "smtp.eu.sparkpostmail.com"}[self.region]
        return self._relay(host, 587, "SMTP_Injection", self.api_key)


class ElasticemailSmtpSettings(RelaySettings):
    username: str = Field(min_length=1)
    password: SecretStr

    def smtp_settings(self) -> SmtpSettings:
        # Elastic Email's documented port; 25 and 587 are often blocked by hosting providers.
        return self._relay("smtp.elasticemail.com", 2525, self.username, self.password)
