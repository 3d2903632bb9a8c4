"""SM2 signatures (GB/T 32918) with the SM3 digest and the default distinguishing ID.

Signing is GmSSL (C) through ``gmssl-pyx``; verifying is the system's OpenSSL 3 where present
(about twice GmSSL's speed, see :mod:`yikatong.crypto._openssl`), GmSSL otherwise. Signatures
travel as raw ``r ‖ s`` (64 bytes) to keep QR codes small; both libraries speak DER, converted
at this boundary.
"""

from __future__ import annotations

import functools

import gmssl_pyx
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from yikatong.crypto import _openssl
from yikatong.crypto.sm3 import sm3

DEFAULT_ID = b"1234567812345678"
PUBLIC_KEY_BYTES = 64  # x ‖ y, without the 0x04 prefix
PRIVATE_KEY_BYTES = 32
SIGNATURE_BYTES = 64

# The curve sm2p256v1 (GB/T 32918.5): a, b and the base point, as they enter Z.
_CURVE = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


@functools.lru_cache(maxsize=256)
def z_value(public_key: bytes, signer_id: bytes = DEFAULT_ID) -> bytes:
    """Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA): the signer's identity digest (GB/T 32918.2
    §5.5), the same for every message of one key, so it is computed once per key."""
    entl = (len(signer_id) * 8).to_bytes(2, "big")
    return sm3(entl + signer_id + _CURVE + public_key)


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
    """Sign e = SM3(Z ‖ message) with Z cached per key (10× faster than re-deriving Z)."""
    digest = sm3(z_value(public_key, signer_id) + message)
    der = gmssl_pyx.sm2_sign_sm3_digest(private_key, digest)
    return der_to_raw(bytes(der))


def verify(
    public_key: bytes, message: bytes, signature: bytes, signer_id: bytes = DEFAULT_ID
) -> bool:
    if len(signature) != SIGNATURE_BYTES or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    if _openssl.available():
        try:
            der = raw_to_der(signature)
        except ValueError:
            return False
        return _openssl.verify(public_key, message, der, signer_id)
    try:
        return bool(
            gmssl_pyx.sm2_verify(public_key, message, raw_to_der(signature), signer_id=signer_id)
        )
    except (gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError, ValueError):
        return False
