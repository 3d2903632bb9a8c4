"""SM2 (GB/T 32918) with SM3 and the default ID, cross-checked against the OpenSSL 3 command line
in both directions and against a published verification vector on the recommended curve."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import gmssl_pyx
import pytest

from tests.support.tools import need
from yikatong.crypto import _openssl as openssl_backend
from yikatong.crypto import sm2


@pytest.fixture(autouse=True)
def _openssl_cli() -> None:
    need("openssl", "openssl")


DIST_ID = "distid:" + sm2.DEFAULT_ID.decode()
# SubjectPublicKeyInfo up to the point: SEQ{SEQ{id-ecPublicKey, sm2p256v1}, BIT STRING 04‖x‖y}.
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
MESSAGE = "电子社保卡 一卡通 370200".encode()

# OpenSSL test/recipes/30-test_evp_data/evppkey_sm2.txt, key SM2_key1 and its two SM3 "Verify"
# vectors (input is the SM3 digest e = SM3(Z ‖ M), signature in DER).
OPENSSL_SM2_KEY1 = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQg0JFWczAXva2An9m7
2MaT9gIwWTFptvlKrxyO4TjMmbWhRANCAAQ5OirZ4n5DrKqrhaGdO4VZHhRAYVcX
Wt3Te/d/8Mr57Tf886i09VwDhSMmH8pmNq/mp6+ioUgqYG9cs6GLLioe
-----END PRIVATE KEY-----
"""
OPENSSL_SM2_KEY1_PUBLIC = bytes.fromhex(
    "393a2ad9e27e43acaaab85a19d3b85591e14406157175addd37bf77ff0caf9ed"
    "37fcf3a8b4f55c038523261fca6636afe6a7afa2a1482a606f5cb3a18b2e2a1e"
)
OPENSSL_VECTORS = [
    (
        "D7AD397F6FFA5D4F7F11E7217F241607DC30618C236D2C09C1B9EA8FDADEE2E8",
        "3046022100AB1DB64DE7C40EDBDE6651C9B8EBDB804673DB836E5D5C7FE15DCF9ED2725037022100"
        "EBA714451FF69B0BB930B379E192E7CD5FA6E3C41C7FBD8303B799AB54A54621",
    ),
    (
        "B1139602C6ECC9E15E2F3F9C635A1AFE737058BC15387479C1EA0D0B3D90E9E5",
        "3045022100E6E0414EBD3A656C35602AF14AB20287DBF30D57AF75C49A188ED4B42391F22402202F"
        "54F277C606F4605E1CE9514947FFDDF94C67A539804A4ED17F852288BDBE2E",
    ),
]


def _pem_public_key(raw: bytes) -> bytes:
    body = base64.encodebytes(SM2_SPKI_PREFIX + raw).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"
    ).encode()


def _openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, timeout=30, check=False)


@pytest.fixture
def our_signature(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(public key PEM, message, DER signature) made by our code."""
    private, public = sm2.generate_keypair()
    raw = sm2.sign(private, public, MESSAGE)
    (tmp_path / "pub.pem").write_bytes(_pem_public_key(public))
    (tmp_path / "msg").write_bytes(MESSAGE)
    (tmp_path / "sig.der").write_bytes(sm2.raw_to_der(raw))
    return tmp_path / "pub.pem", tmp_path / "msg", tmp_path / "sig.der"


def test_the_pem_we_build_is_the_key_openssl_reads(tmp_path: Path) -> None:
    (tmp_path / "k1.pem").write_text(OPENSSL_SM2_KEY1)
    der = _openssl("pkey", "-in", str(tmp_path / "k1.pem"), "-pubout", "-outform", "DER").stdout
    assert der == SM2_SPKI_PREFIX + OPENSSL_SM2_KEY1_PUBLIC


def test_openssl_dgst_verifies_our_signature(our_signature: tuple[Path, Path, Path]) -> None:
    pub, msg, sig = our_signature
    result = _openssl(
        "dgst", "-sm3", "-verify", str(pub), "-signature", str(sig), "-sigopt", DIST_ID, str(msg)
    )
    assert result.returncode == 0, result.stderr
    assert b"Verified OK" in result.stdout


def test_openssl_pkeyutl_verifies_our_signature(our_signature: tuple[Path, Path, Path]) -> None:
    pub, msg, sig = our_signature
    result = _openssl(
        "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin", "-digest", "sm3",
        "-in", str(msg), "-sigfile", str(sig), "-pkeyopt", DIST_ID,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"Signature Verified Successfully" in result.stdout


def test_openssl_refuses_our_signature_over_another_message(
    our_signature: tuple[Path, Path, Path],
) -> None:
    pub, msg, sig = our_signature
    msg.write_bytes(MESSAGE + b"!")
    result = _openssl(
        "dgst", "-sm3", "-verify", str(pub), "-signature", str(sig), "-sigopt", DIST_ID, str(msg)
    )
    assert result.returncode != 0


def test_we_verify_a_signature_made_by_openssl(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    assert _openssl("genpkey", "-algorithm", "SM2", "-out", str(key)).returncode == 0
    public = _openssl("pkey", "-in", str(key), "-pubout", "-outform", "DER").stdout
    assert public.startswith(SM2_SPKI_PREFIX)
    (tmp_path / "msg").write_bytes(MESSAGE)
    signed = _openssl(
        "dgst", "-sm3", "-sign", str(key), "-sigopt", DIST_ID,
        "-out", str(tmp_path / "sig"), str(tmp_path / "msg"),
    )  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    raw = sm2.der_to_raw((tmp_path / "sig").read_bytes())
    raw_public = public[len(SM2_SPKI_PREFIX) :]
    assert sm2.verify(raw_public, MESSAGE, raw)
    assert not sm2.verify(raw_public, MESSAGE + b"!", raw)


@pytest.mark.parametrize(("digest", "signature"), OPENSSL_VECTORS)
def test_the_sm2_backend_verifies_openssls_published_vectors(digest: str, signature: str) -> None:
    # sm2.verify hashes Z ‖ M itself; these vectors give e directly, so check the same backend
    # (GmSSL) at the digest level, and our DER ↔ raw conversion on the way.
    der = bytes.fromhex(signature)
    assert sm2.raw_to_der(sm2.der_to_raw(der)) == der
    assert gmssl_pyx.sm2_verify_sm3_digest(OPENSSL_SM2_KEY1_PUBLIC, bytes.fromhex(digest), der)


def test_a_published_vector_fails_against_the_other_digest() -> None:
    (digest_a, _), (_, signature_b) = OPENSSL_VECTORS
    assert not gmssl_pyx.sm2_verify_sm3_digest(
        OPENSSL_SM2_KEY1_PUBLIC, bytes.fromhex(digest_a), bytes.fromhex(signature_b)
    )


def test_sign_then_verify_round_trips_and_tampering_fails() -> None:
    private, public = sm2.generate_keypair()
    signature = sm2.sign(private, public, MESSAGE)
    assert len(signature) == sm2.SIGNATURE_BYTES
    assert sm2.verify(public, MESSAGE, signature)
    assert not sm2.verify(public, MESSAGE[:-1], signature)
    flipped = bytearray(signature)
    flipped[40] ^= 0x01
    assert not sm2.verify(public, MESSAGE, bytes(flipped))
    assert not sm2.verify(public, MESSAGE, signature, signer_id=b"ALICE123@YAHOO.COM")
    assert not sm2.verify(public, MESSAGE, signature[:-1])


def test_a_signature_with_r_or_s_zero_is_refused_not_raised() -> None:
    _, public = sm2.generate_keypair()
    assert not sm2.verify(public, MESSAGE, bytes(64))


def test_openssl_and_gmssl_verify_each_others_signatures() -> None:
    # The node signs with GmSSL and verifies with the system's OpenSSL (libcrypto 3): both must
    # agree on every signature, and OpenSSL must be there (Debian's libssl3 always is).
    assert openssl_backend.available()
    private, public = sm2.generate_keypair()
    for message in (b"", b"YK1", bytes(range(256)) * 3):
        signature = sm2.sign(private, public, message)
        der = sm2.raw_to_der(signature)
        assert openssl_backend.verify(public, message, der, sm2.DEFAULT_ID)
        assert gmssl_pyx.sm2_verify(public, message, der, signer_id=sm2.DEFAULT_ID)
        gmssl_der = bytes(gmssl_pyx.sm2_sign(private, public, message, signer_id=sm2.DEFAULT_ID))
        assert openssl_backend.verify(public, message, gmssl_der, sm2.DEFAULT_ID)
        assert not openssl_backend.verify(public, message + b"!", der, sm2.DEFAULT_ID)
        assert not openssl_backend.verify(public, message, der, b"another-signer")


def test_z_is_the_gbt_32918_identity_digest() -> None:
    # Signing SM3(Z ‖ M) with the cached Z gives signatures that GmSSL's own Z derivation accepts.
    private, public = sm2.generate_keypair()
    signature = sm2.sign(private, public, b"message", b"ALICE123@YAHOO.COM")
    assert gmssl_pyx.sm2_verify(
        public, b"message", sm2.raw_to_der(signature), signer_id=b"ALICE123@YAHOO.COM"
    )
