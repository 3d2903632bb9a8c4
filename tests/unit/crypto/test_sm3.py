"""SM3 (GB/T 32905-2016) against the standard's own examples and the OpenSSL 3 command line."""

import random
import subprocess

import pytest

from tests.support.tools import need
from yikatong.crypto.sm3 import hmac_sm3, sm3


def test_sm3_of_abc_matches_gbt_32905_example_1() -> None:
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_of_64_byte_message_matches_gbt_32905_example_2() -> None:
    assert (
        sm3(b"abcd" * 16).hex()
        == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_hmac_sm3_depends_on_the_key() -> None:
    assert hmac_sm3(b"k1", b"data") != hmac_sm3(b"k2", b"data")
    assert len(hmac_sm3(b"k1", b"data")) == 32


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 1000, 4096])
def test_sm3_matches_the_openssl_command_line(size: int) -> None:
    openssl = need("openssl", "openssl")
    data = random.Random(size).randbytes(size)
    out = subprocess.run(
        [openssl, "dgst", "-sm3", "-hex", "-r"], input=data, capture_output=True, check=True
    ).stdout.decode()
    assert sm3(data).hex() == out.split()[0]


def test_hmac_sm3_matches_the_openssl_command_line() -> None:
    openssl = need("openssl", "openssl")
    key, data = bytes(range(40)), b"370202199001011234"
    out = subprocess.run(
        [openssl, "mac", "-digest", "SM3", "-macopt", f"hexkey:{key.hex()}", "HMAC"],
        input=data,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert hmac_sm3(key, data).hex() == out.strip().lower()
