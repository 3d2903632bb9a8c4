"""SM2 signatures (GB/T 32918) with the SM3 digest and the default distinguishing ID.

Backed by GmSSL (C) through ``gmssl-pyx``. Signatures travel as raw ``r ‖ s`` (64 bytes) to keep
QR codes small; GmSSL speaks DER, converted at this boundary.
"""

from __future__ import annotations

import gmssl_pyx
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

DEFAULT_ID = b"1234567812345678"
PUBLIC_KEY_BYTES = 64  # x ‖ y, without the 0x04 prefix
PRIVATE_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def generate_keypair() -> tuple[bytes, bytes]:
    """Return ``(private_key, public_key)``: 32 bytes and 64 bytes (x ‖ y)."""
    public, private = gmssl_pyx.sm2_key_generate()
    return bytes(private), bytes(public)


def der_to_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_to_der(raw: bytes) -> bytes:
    if len(raw) != SIGNATURE_BYTES:
        raise ValueError("SM2 raw signature must be 64 bytes")
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


def sign(
    private_key: bytes, public_key: bytes, message: bytes, signer_id: bytes = DEFAULT_ID
) -> bytes:
    der = gmssl_pyx.sm2_sign(private_key, public_key, message, signer_id=signer_id)
    return der_to_raw(bytes(der))


def verify(
    public_key: bytes, message: bytes, signature: bytes, signer_id: bytes = DEFAULT_ID
) -> bool:
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    try:
        return bool(
            gmssl_pyx.sm2_verify(public_key, message, raw_to_der(signature), signer_id=signer_id)
        )
    except (gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError, ValueError):
        return False
