"""Base45 (RFC 9285): binary data as QR-alphanumeric text, for codes printed or shown as QR."""

from __future__ import annotations

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INDEX = {c: i for i, c in enumerate(_B45)}


def b45encode(data: bytes) -> str:
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = divmod(n, 45 * 45)
        d, e = divmod(n, 45)
        out += (_B45[e], _B45[d], _B45[c])
    if len(data) % 2:
        d, e = divmod(data[-1], 45)
        out += (_B45[e], _B45[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode base45; ``ValueError`` on a character outside the alphabet or a bad length."""
    try:
        values = [_B45_INDEX[c] for c in text]
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not base45") from None
    if len(values) % 3 == 1:
        raise ValueError("base45 text has a dangling character")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise ValueError("base45 triplet out of range")
            out += n.to_bytes(2, "big")
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise ValueError("base45 pair out of range")
            out.append(n)
    return bytes(out)
