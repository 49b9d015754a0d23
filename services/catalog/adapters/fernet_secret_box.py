"""Server secrets encrypted at rest with Fernet; several keys so that they can be rotated without downtime."""

import json
from collections.abc import Sequence

from cryptography.fernet import Fernet, MultiFernet


class FernetSecretBox:
    """Encrypts with the first key and decrypts with any, so a new key is added first and old ones retired
    once `reseal` has re-encrypted everything."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, secrets: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(secrets).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        secrets: dict[str, str] = json.loads(self._fernet.decrypt(sealed.encode()))
        return secrets

    def reseal(self, sealed: str) -> str:
        return self._fernet.rotate(sealed.encode()).decode()
