"""Rendering e-SSC codes as QR images (segno) and reading them back (zxing-cpp)."""

from __future__ import annotations

import io
from pathlib import Path

import segno
import zxingcpp
from PIL import Image

from yikatong.core.errors import InvalidInput

# Medium error correction: a phone screen is clean, and M keeps the symbol small (version 6–7).
ERROR_LEVEL = "M"


def make_qr(text: str) -> segno.QRCode:
    # The token text is pure QR-alphanumeric (prefix + base45): segno picks that mode itself.
    return segno.make_qr(text, error=ERROR_LEVEL, boost_error=False)


def render_png(text: str, *, scale: int = 6, border: int = 4) -> bytes:
    out = io.BytesIO()
    make_qr(text).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def decode_image(source: bytes | Path) -> str:
    """The text of the single QR code in an image; InvalidInput when none can be read."""
    try:
        data = source.read_bytes() if isinstance(source, Path) else source
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read the image: {exc}", field="image") from None
    results = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    if not results:
        raise InvalidInput("no QR code found in the image", field="image")
    return str(results[0].text)
