"""Ed25519 against RFC 8032 §7.1 TEST 1."""

from yikatong.crypto import ed25519

SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
    "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_signing_the_empty_message_gives_the_rfc_8032_signature() -> None:
    assert ed25519.sign(SECRET, b"") == SIGNATURE


def test_the_rfc_8032_signature_verifies() -> None:
    assert ed25519.verify(PUBLIC, b"", SIGNATURE)


def test_a_tampered_message_or_signature_fails() -> None:
    assert not ed25519.verify(PUBLIC, b"x", SIGNATURE)
    bad = bytearray(SIGNATURE)
    bad[0] ^= 1
    assert not ed25519.verify(PUBLIC, b"", bytes(bad))
    assert not ed25519.verify(PUBLIC, b"", SIGNATURE[:-1])
