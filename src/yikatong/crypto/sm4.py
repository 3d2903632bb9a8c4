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
from collections.abc import Callable

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
    return sm4_gcm_decryptor(key, associated_data)(blob)


def sm4_gcm_decryptor(key: bytes, associated_data: bytes = b"") -> Callable[[bytes], bytes]:
    """``sm4_gcm_decrypt`` with its key and associated data fixed, checked once: a bank file
    decrypts a million accounts of one column with one key."""
    if len(key) != KEY_BYTES:
        raise ValueError("SM4 key must be 16 bytes")
    decrypt = gmssl_pyx.sm4_gcm_decrypt
    refused = (gmssl_pyx.InvalidValueError, gmssl_pyx.GmsslInnerError)

    def decrypted(blob: bytes) -> bytes:
        if len(blob) <= NONCE_BYTES + TAG_BYTES:
            return _decrypt_short(key, blob, associated_data)
        try:
            plain: bytes = decrypt(
                key,
                blob[:NONCE_BYTES],
                associated_data,
                blob[NONCE_BYTES:-TAG_BYTES],
                blob[-TAG_BYTES:],
            )
        except refused as exc:
            raise DecryptionFailed("SM4-GCM authentication failed") from exc
        return plain

    return decrypted


def _decrypt_short(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """A blob too short to hold anything, or the rare empty value, which GmSSL refuses."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed("ciphertext too short")
    nonce, tag = blob[:NONCE_BYTES], blob[-TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(associated_data)
    try:
        return decryptor.update(b"") + decryptor.finalize()
    except Exception as exc:  # cryptography raises InvalidTag
        raise DecryptionFailed("SM4-GCM authentication failed") from exc
