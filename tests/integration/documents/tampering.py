"""Ways a forger edits a certificate PDF, byte for byte (lengths kept, so the file still opens)."""

from __future__ import annotations

import base64
import re

_KEYWORDS = re.compile(rb"/Keywords \(ykt-document/1:([A-Za-z0-9_=-]+)\)")


def edit_embedded_content(pdf: bytes, old: str, new: str) -> bytes:
    """Change the canonical content carried in the PDF's Keywords (same UTF-8 length)."""
    match = _KEYWORDS.search(pdf)
    assert match is not None
    content = base64.urlsafe_b64decode(match.group(1)).decode()
    assert old in content and len(old.encode()) == len(new.encode())
    edited = base64.urlsafe_b64encode(content.replace(old, new).encode())
    return pdf[: match.start(1)] + edited + pdf[match.end(1) :]


def _shown(text: str) -> bytes:
    """How reportlab writes ``text`` in a page stream: UTF-16BE, octal-escaped."""
    out = []
    for byte in text.encode("utf-16-be"):
        printable = 32 <= byte < 127 and chr(byte) not in "()\\"
        out.append(chr(byte) if printable else f"\\{byte:03o}")
    return "".join(out).encode("latin-1")


def edit_printed_text(pdf: bytes, old: str, new: str) -> bytes:
    """Change what the page shows (same length), leaving the QR code and content alone."""
    assert len(old) == len(new)
    assert _shown(old) in pdf
    return pdf.replace(_shown(old), _shown(new))
