"""SM4 (GB/T 32907) in GCM mode for personal data at rest.

Ciphertext layout: 12-byte nonce ‖ ciphertext ‖ 16-byte tag. The associated data binds a value to
its column so that a ciphertext copied into another column does not decrypt.

Encryption goes through OpenSSL via ``cryptography``. Decryption, which a bank file does once per
payment, goes through GmSSL (``gmssl-pyx``, already the platform's SM2 signer) in one C call:
about 2 µs against 6–8 µs for the several ``cryptography`` calls per value. Both implement the
same standard; the tests decrypt each one's output with the other.
"""

from __future__ import annotations

import os

import gmssl_pyx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 16


class DecryptionFailed(Exception):
    """The ciphertext was altered, or the key or associated data is wrong."""


def sm4_gcm_encrypt(key: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError("SM4 key must be 16 bytes")
    nonce = os.urandom(NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated_data)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def sm4_gcm_decrypt(key: bytes, blob: bytes, associated_data: bytes = b"") -> bytes:
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed("ciphertext too short")
    nonce, body, tag = blob[:NONCE_BYTES], blob[NONCE_BYTES:-TAG_BYTES], blob[-TAG_BYTES:]
    if body:  # GmSSL refuses an empty ciphertext; the rare empty value takes the path below
        if len(key) != KEY_BYTES:
            raise ValueError("SM4 key must be 16 bytes")
        try:
            plain: bytes = gmssl_pyx.sm4_gcm_decrypt(key, nonce, associated_data, body, tag)
        except (gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError) as exc:
            raise DecryptionFailed("SM4-GCM authentication failed") from exc
        return plain
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(associated_data)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except Exception as exc:  # cryptography raises InvalidTag
        raise DecryptionFailed("SM4-GCM authentication failed") from exc
