"""Secrets at rest: encrypted with Fernet (the cryptography package's authenticated
encryption) under BATCHWORKS_SECRETS_KEYS, the first key encrypting, every key decrypting
(MultiFernet), so keys can be rotated without a moment when secrets cannot be read."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """Encrypted with a key that BATCHWORKS_SECRETS_KEYS no longer holds."""


@cache
def _keys(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def _fernet() -> MultiFernet:
    return _keys(tuple(settings.SECRETS_KEYS))


def seal(text: str) -> str:
    return _fernet().encrypt(text.encode()).decode()


def unseal(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A secret cannot be decrypted with the keys in BATCHWORKS_SECRETS_KEYS: the key "
            "it was encrypted with was removed before `manage.py rotate_secrets` ran."
        ) from None


def reseal(token: str) -> str:
    """The same secret under the first key (what rotation does)."""
    return _fernet().rotate(token.encode()).decode()


MASK = "********"


def mask(text: str, secrets: list[str]) -> str:
    """The text with every secret in it replaced by ********."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def mask_json(value, secrets: list[str]):
    """A JSON value with every secret in its strings replaced by ********."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask(value, secrets)
    if isinstance(value, dict):
        return {mask(key, secrets): mask_json(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_json(item, secrets) for item in value]
    return value
