"""SM3 hash (GB/T 32905) and HMAC-SM3, through OpenSSL via ``cryptography``."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()
