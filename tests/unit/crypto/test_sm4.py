"""SM4 (GB/T 32907-2016) against the standard's example, and the GCM wrapper."""

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from yikatong.crypto.sm4 import DecryptionFailed, sm4_gcm_decrypt, sm4_gcm_encrypt

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


def test_sm4_block_matches_gbt_32907_example_1() -> None:
    encryptor = Cipher(algorithms.SM4(KEY), modes.ECB()).encryptor()
    ciphertext = encryptor.update(KEY) + encryptor.finalize()
    assert ciphertext.hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_gcm_round_trips_with_its_associated_data() -> None:
    blob = sm4_gcm_encrypt(KEY, b"370202199001011234", b"resident.id")
    assert sm4_gcm_decrypt(KEY, blob, b"resident.id") == b"370202199001011234"


def test_sm4_gcm_refuses_a_flipped_ciphertext_bit() -> None:
    blob = bytearray(sm4_gcm_encrypt(KEY, b"secret", b"col"))
    blob[13] ^= 1
    with pytest.raises(DecryptionFailed):
        sm4_gcm_decrypt(KEY, bytes(blob), b"col")


def test_sm4_gcm_refuses_other_associated_data() -> None:
    blob = sm4_gcm_encrypt(KEY, b"secret", b"resident.phone")
    with pytest.raises(DecryptionFailed):
        sm4_gcm_decrypt(KEY, blob, b"resident.bank_account")
