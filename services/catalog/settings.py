"""Settings of the catalog service (environment variables `SENDPOOL_*`, catalog-only ones `SENDPOOL_CATALOG_*`)."""

from typing import Annotated

from cryptography.fernet import Fernet
from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import ApiAuthSettings, ServiceSettings


class CatalogSettings(ApiAuthSettings, ServiceSettings):
    # A malformed setting must not print its value: here the values are encryption keys.
    model_config = SettingsConfigDict(env_prefix="SENDPOOL_CATALOG_", hide_input_in_errors=True)

    secret_keys: Annotated[list[str], NoDecode] = Field(
        description=(
            "Comma-separated Fernet keys (urlsafe base64 of 32 bytes) that encrypt server secrets. "
            "The first key encrypts; every key decrypts, so a new key goes first and the old ones stay "
            "until `sendpool rotate-keys` has re-encrypted every secret. Required: there is no safe default."
        ),
        repr=False,
    )
    probe_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a connection test waits for the vendor's delivery worker to answer.",
    )
    outbox_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often the outbox relay looks for unpublished events when no NOTIFY woke it.",
    )
    outbox_retention_hours: float = Field(
        168.0,
        gt=0,
        description=(
            "How long published events stay in the outbox table before the relay deletes them "
            "(it looks once a minute). The newest published event always stays."
        ),
    )

    @field_validator("secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("secret_keys")
    @classmethod
    def _valid_fernet_keys(cls, keys: list[str]) -> list[str]:
        if not keys:
            raise ValueError("at least one key is required")
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except ValueError:
                # Never echo the key itself: it is a secret even when malformed.
                raise ValueError(f"key #{position} is not urlsafe base64 of 32 bytes") from None
        return keys
