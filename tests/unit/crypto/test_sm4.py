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


def _openssl_decrypt(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    nonce, body, tag = blob[:12], blob[12:-16], blob[-16:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(associated_data)
    return decryptor.update(body) + decryptor.finalize()


@pytest.mark.parametrize("plain", [b"", b"x", b"6222000000012345678", bytes(range(256)) * 3])
def test_gmssl_decryption_reads_what_openssl_encrypted(plain: bytes) -> None:
    # Encryption is OpenSSL's, decryption GmSSL's (the empty value OpenSSL's again): one standard.
    blob = sm4_gcm_encrypt(KEY, plain, b"resident.bank_account_enc")
    assert sm4_gcm_decrypt(KEY, blob, b"resident.bank_account_enc") == plain
    assert _openssl_decrypt(KEY, blob, b"resident.bank_account_enc") == plain


def test_gmssl_decryption_refuses_a_changed_tag_and_a_wrong_key() -> None:
    blob = bytearray(sm4_gcm_encrypt(KEY, b"6222000000012345678", b"col"))
    wrong_key = bytes(16)
    with pytest.raises(DecryptionFailed):
        sm4_gcm_decrypt(wrong_key, bytes(blob), b"col")
    blob[-1] ^= 0x80
    with pytest.raises(DecryptionFailed):
        sm4_gcm_decrypt(KEY, bytes(blob), b"col")
    with pytest.raises(DecryptionFailed):
        sm4_gcm_decrypt(KEY, bytes(blob[:20]), b"col")
