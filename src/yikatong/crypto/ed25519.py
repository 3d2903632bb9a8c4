"""Ed25519 signatures (RFC 8032) through OpenSSL via ``cryptography``: the non-SM alternative."""

from __future__ import annotations

import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64

_RAW = serialization.Encoding.Raw


def generate_keypair() -> tuple[bytes, bytes]:
    """Return ``(private_key, public_key)`` as 32 raw bytes each."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return private, key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


@functools.lru_cache(maxsize=64)
def _private(private_key: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(private_key)


@functools.lru_cache(maxsize=256)
def _public(public_key: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key)


def sign(private_key: bytes, message: bytes) -> bytes:
    return _private(private_key).sign(message)


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    try:
        _public(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True
