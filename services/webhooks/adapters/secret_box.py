"""Signing secrets encrypted at rest with Fernet, several keys so that they can be rotated."""

from collections.abc import Sequence

from cryptography.fernet import Fernet, MultiFernet


class FernetSecretBox:
    """Encrypts with the first key and decrypts with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode()).decode()
