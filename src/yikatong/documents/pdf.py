"""Printing a certificate as PDF (reportlab) and reading one back (poppler + zxing-cpp).

The CJK text uses reportlab's built-in CID font STSong-Light, which is not embedded: viewers map
it through the Adobe-GB1 character collection (poppler needs Debian's ``poppler-data``). The
canonical content is carried in the PDF's Keywords entry so that an offline verifier can recompute
the digest the QR code signs; the page streams stay uncompressed so the printed text is plain to
inspect.
"""

from __future__ import annotations

import base64
import io
import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import segno
import zxingcpp
from PIL import Image
from reportlab.lib.colors import Color, HexColor, black, white
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from yikatong.core.errors import DomainError
from yikatong.documents.codes import DocumentContent, Section

FONT = "STSong-Light"
CONTENT_PREFIX = "ykt-document/1:"
VERIFY_PATH = "/api/v1/documents/verify"
# Resolution the QR code is read at: a printed 40 mm code has ~4 pixels per module at 150 dpi.
READ_DPI = 150
TOOL_TIMEOUT = 30  # seconds for one poppler call

SEAL_RED = HexColor("#D7261E")
RULE_GREY = HexColor("#444444")
HEAD_FILL = HexColor("#EDEDED")
BAND_FILL = HexColor("#F6F3EA")

PAGE_W, PAGE_H = A4
MARGIN = 56.0
BODY_W = PAGE_W - 2 * MARGIN
QR_SIZE = 113.0  # 40 mm
FOOTER_TOP = MARGIN + QR_SIZE + 22  # nothing of the body is printed below this line
SEAL_BLOCK = 112.0  # height kept for the issuer, date and seal on the last page
ROW_H = 19.0

_AMOUNT = re.compile(r"-?[\d,]+\.\d{2}")
_font_registered = False


def _font() -> str:
    global _font_registered
    if not _font_registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _font_registered = True
    return FONT


class VerifierUnavailable(DomainError):
    """A PDF tool is missing on this node (HTTP 503)."""

    status: ClassVar[int] = 503
    slug: ClassVar[str] = "verifier-unavailable"
    title: ClassVar[str] = "Certificate verifier unavailable"
    exit_code: ClassVar[int] = 8


# --- rendering -----------------------------------------------------------------------------------


def _width(text: str, size: float) -> float:
    return float(pdfmetrics.stringWidth(text, _font(), size))


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Break CJK-and-Latin text into lines no wider than ``width`` (any character may break)."""
    lines: list[str] = []
    line = ""
    for char in text:
        if _width(line + char, size) > width and line:
            lines.append(line)
            line = ""
        line += char
    return [*lines, line] if line else lines


class _Page:
    """A cursor over the pages of one certificate."""

    def __init__(self, canvas: Canvas, content: DocumentContent, qr_text: str, city: str) -> None:
        self.canvas = canvas
        self.content = content
        self.qr_text = qr_text
        self.city = city
        self.number = 0
        self.y = 0.0
        self._new_page()

    def _new_page(self) -> None:
        if self.number:
            self.canvas.showPage()
        self.number += 1
        self._frame()
        self.y = PAGE_H - MARGIN - 96

    def ensure(self, height: float, *, last: bool = False) -> bool:
        """Start a new page unless ``height`` still fits; True when a page was started."""
        floor = FOOTER_TOP + (SEAL_BLOCK if last else 0)
        if self.y - height < floor:
            self._new_page()
            return True
        return False

    def _frame(self) -> None:
        c, content = self.canvas, self.content
        c.setStrokeColor(RULE_GREY)
        c.setLineWidth(1.2)
        c.rect(MARGIN - 18, MARGIN - 30, BODY_W + 36, PAGE_H - 2 * MARGIN + 48)
        c.setLineWidth(0.4)
        c.rect(MARGIN - 14, MARGIN - 26, BODY_W + 28, PAGE_H - 2 * MARGIN + 40)
        c.setFillColor(black)
        c.setFont(_font(), 9)
        c.drawString(MARGIN, PAGE_H - MARGIN - 4, f"{self.city}社会保障卡一卡通 电子证明")
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - MARGIN - 4, f"编号：{content.serial}")
        c.drawCentredString(PAGE_W / 2, MARGIN - 22, f"第 {self.number} 页")
        c.setFont(_font(), 22)
        title = "  ".join(content.title)  # letter-spaced like a printed form
        c.drawCentredString(PAGE_W / 2, PAGE_H - MARGIN - 50, title)
        c.setLineWidth(1.5)
        c.line(MARGIN, PAGE_H - MARGIN - 64, PAGE_W - MARGIN, PAGE_H - MARGIN - 64)
        c.setLineWidth(0.5)
        c.line(MARGIN, PAGE_H - MARGIN - 67, PAGE_W - MARGIN, PAGE_H - MARGIN - 67)
        self._footer()

    def _footer(self) -> None:
        c = self.canvas
        _draw_qr(c, self.qr_text, PAGE_W - MARGIN - QR_SIZE, MARGIN + 6, QR_SIZE)
        c.setFont(_font(), 8)
        c.setFillColor(black)
        c.drawCentredString(PAGE_W - MARGIN - QR_SIZE / 2, MARGIN - 4, "扫码核验 Scan to verify")
        notes = [
            "核验说明：",
            "1. 本证明由一卡通平台出具并加盖电子印章，右下角二维码载有经国密SM2/Ed25519",
            "   签名的证明摘要，涂改、拼接或复制他人二维码均无法通过核验。",
            f"2. 在线核验：向任一联盟城市节点 POST {VERIFY_PATH}",
            "   上传本PDF文件或二维码内容；已撤销的证明在线核验不通过。",
            "3. 离线核验：ykt document verify 本文件.pdf --trust trust.json",
            "   （trust.json 为出具城市公钥清单，由 ykt qr trust-list 导出）。",
        ]
        y = MARGIN + QR_SIZE - 4
        for line in notes:
            c.drawString(MARGIN, y, line)
            y -= 13
        c.setLineWidth(0.4)
        c.setStrokeColor(RULE_GREY)
        c.line(MARGIN, MARGIN + QR_SIZE + 12, PAGE_W - MARGIN - QR_SIZE - 16, MARGIN + QR_SIZE + 12)

    def paragraph(self, text: str, size: float = 11.5, indent: float = 23) -> None:
        lines = _wrap(text, size, BODY_W - indent)
        self.ensure(len(lines) * size * 1.7)
        c = self.canvas
        c.setFont(_font(), size)
        c.setFillColor(black)
        for i, line in enumerate(lines):
            c.drawString(MARGIN + (indent if i == 0 else 0), self.y, line)
            self.y -= size * 1.7
        self.y -= 4

    def holder(self) -> None:
        rows = [("姓名", self.content.holder_name, "公民身份号码", self.content.holder_id_masked)]
        widths = [0.15, 0.30, 0.2, 0.35]
        self._table(rows, widths, label_columns={0, 2})
        self.y -= 10

    def section(self, section: Section) -> None:
        self.ensure(ROW_H * 3)
        c = self.canvas
        c.setFillColor(BAND_FILL)
        c.rect(MARGIN, self.y - 6, BODY_W, ROW_H, stroke=0, fill=1)
        c.setFillColor(SEAL_RED)
        c.rect(MARGIN, self.y - 6, 4, ROW_H, stroke=0, fill=1)
        c.setFillColor(black)
        c.setFont(_font(), 12)
        c.drawString(MARGIN + 10, self.y, section.heading)
        self.y -= ROW_H + 4
        if section.columns:
            widths = _column_widths(section)
            self.ensure(ROW_H * 2)
            self._table([section.columns], widths, header=True)
            self._table(
                section.rows, widths, numeric=_numeric_columns(section), repeat=section.columns
            )
        elif section.rows:
            # Label/value pairs two to a row, as on a printed form.
            pairs = list(section.rows)
            rows = [
                (*pairs[i], *(pairs[i + 1] if i + 1 < len(pairs) else ("", "")))
                for i in range(0, len(pairs), 2)
            ]
            self._table(rows, [0.17, 0.33, 0.17, 0.33], label_columns={0, 2})
        if section.note:
            self.ensure(ROW_H)
            c.setFont(_font(), 10.5)
            c.drawString(MARGIN + 6, self.y - 2, section.note)
            self.y -= ROW_H
        self.y -= 12

    def _table(
        self,
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        *,
        header: bool = False,
        label_columns: frozenset[int] | set[int] = frozenset(),
        numeric: frozenset[int] | set[int] = frozenset(),
        repeat: Sequence[str] = (),
    ) -> None:
        """Rows of cells; ``repeat`` is a header row printed again atop a continuation page."""
        c = self.canvas
        for row in rows:
            if self.ensure(ROW_H) and repeat:
                self._table([repeat], widths, header=True)
            x = MARGIN
            top = self.y + ROW_H - 6
            for i, cell in enumerate(row):
                w = widths[i] * BODY_W if i < len(widths) else 0
                if i == len(row) - 1:
                    w = MARGIN + BODY_W - x
                fill = header or i in label_columns
                c.setFillColor(HEAD_FILL if fill else white)
                c.setStrokeColor(RULE_GREY)
                c.setLineWidth(0.5)
                c.rect(x, top - ROW_H, w, ROW_H, stroke=1, fill=1)
                c.setFillColor(black)
                size = 10.5 if not header else 10
                c.setFont(_font(), size)
                baseline = top - ROW_H + 6.5
                if header or i in label_columns:
                    c.drawCentredString(x + w / 2, baseline, cell)
                elif i in numeric:
                    c.drawRightString(x + w - 5, baseline, cell)
                else:
                    c.drawString(x + 5, baseline, cell)
                x += w
            self.y -= ROW_H

    def signature_block(self) -> None:
        self.ensure(0, last=True)
        c = self.canvas
        right = PAGE_W - MARGIN - 10
        base = self.y - 40
        c.setFillColor(black)
        c.setFont(_font(), 12)
        c.drawRightString(right, base, f"出具单位：{self.content.issuer}")
        c.drawRightString(right, base - 22, f"出具日期：{self.content.issued_on_text}")
        c.setFont(_font(), 9)
        c.drawRightString(right, base - 40, f"出具时间：{self.content.issued_at_text}")
        _draw_seal(c, right - 62, base - 12, 50, self.content.issuer)

    def finish(self) -> None:
        self.canvas.showPage()


def _column_widths(section: Section) -> list[float]:
    lengths = [
        max(_width(c, 10.5) for c in [col, *(r[i] for r in section.rows if i < len(r))]) + 12
        for i, col in enumerate(section.columns)
    ]
    total = sum(lengths)
    return [n / total for n in lengths]


def _numeric_columns(section: Section) -> set[int]:
    """Columns of yuan amounts (right-aligned): every filled cell reads like 1,234.50."""
    numeric = set()
    for i in range(len(section.columns)):
        cells = [r[i] for r in section.rows if i < len(r) and r[i]]
        if cells and all(_AMOUNT.fullmatch(cell) for cell in cells):
            numeric.add(i)
    return numeric


def _draw_qr(c: Canvas, text: str, x: float, y: float, size: float) -> None:
    """The QR code as vector squares (crisp at any print resolution), quiet zone included."""
    qr = segno.make_qr(text, error="M", boost_error=False)
    matrix = [list(row) for row in qr.matrix]
    border = 4
    cell = size / (len(matrix) + 2 * border)
    c.setFillColor(white)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColor(black)
    for r, row in enumerate(matrix):
        col = 0
        while col < len(row):
            if not row[col]:
                col += 1
                continue
            start = col
            while col < len(row) and row[col]:
                col += 1
            top = y + size - (border + r + 1) * cell
            c.rect(x + (border + start) * cell, top, (col - start) * cell, cell, stroke=0, fill=1)


def _draw_seal(c: Canvas, cx: float, cy: float, radius: float, issuer: str) -> None:
    """A round official seal (公章): the issuer along the upper arc, a star, 业务专用章 below."""
    red = Color(SEAL_RED.red, SEAL_RED.green, SEAL_RED.blue, alpha=0.85)
    c.saveState()
    c.setStrokeColor(red)
    c.setFillColor(red)
    c.setLineWidth(2.6)
    c.circle(cx, cy, radius, stroke=1, fill=0)
    c.setLineWidth(0.7)
    c.circle(cx, cy, radius - 4, stroke=1, fill=0)
    # The star.
    star_r = radius * 0.26
    points = []
    for k in range(10):
        angle = math.pi / 2 + k * math.pi / 5
        r = star_r if k % 2 == 0 else star_r * 0.382
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    path = c.beginPath()
    path.moveTo(*points[0])
    for point in points[1:]:
        path.lineTo(*point)
    path.close()
    c.drawPath(path, stroke=0, fill=1)
    # The issuer along the arc, from lower left over the top to lower right.
    size = radius * 0.24
    span = math.radians(230)
    chars = list(issuer)
    step = span / max(len(chars) - 1, 1)
    # The seal's lettering is a picture, not text: an empty ActualText keeps its rotated glyphs
    # out of text extraction, where they would interleave with the issuer and date lines.
    c.addLiteral("/Span <</ActualText ()>> BDC")
    start = math.pi / 2 + span / 2
    for i, char in enumerate(chars):
        angle = start - i * step
        tx = cx + (radius - size * 0.5 - 6) * math.cos(angle)
        ty = cy + (radius - size * 0.5 - 6) * math.sin(angle)
        c.saveState()
        c.translate(tx, ty)
        c.rotate(math.degrees(angle) - 90)
        c.setFont(_font(), size)
        c.drawCentredString(0, -size * 0.4, char)
        c.restoreState()
    c.setFont(_font(), radius * 0.19)
    c.drawCentredString(cx, cy - radius * 0.58, "业务专用章")
    c.addLiteral("EMC")
    c.restoreState()


def render_pdf(content: DocumentContent, qr_text: str, *, city_name: str) -> bytes:
    """The certificate as an A4 PDF carrying its canonical content in the Keywords entry."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=0, invariant=True)
    canvas.setTitle(f"{content.title} {content.serial}")
    canvas.setAuthor(content.issuer)
    canvas.setSubject(f"{content.title} {content.serial}")
    canvas.setCreator("yikatong 一卡通")
    canvas.setKeywords(CONTENT_PREFIX + base64.urlsafe_b64encode(content.canonical()).decode())
    page = _Page(canvas, content, qr_text, city_name)
    page.paragraph(content.statement)
    page.holder()
    for section in content.sections:
        page.section(section)
    page.signature_block()
    page.finish()
    canvas.save()
    return out.getvalue()


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PdfReading:
    """What a verifier sees in a PDF: the QR texts of page 1, the embedded content, the text."""

    qr_texts: list[str]
    embedded: bytes | None
    text: str


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise VerifierUnavailable(
            f"{name} is not installed on this node (Debian package poppler-utils); "
            "certificates cannot be read until it is"
        )
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(args, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ValueError(f"reading the PDF took more than {TOOL_TIMEOUT} s") from None


def read_pdf(data: bytes) -> PdfReading:
    """Read a PDF as a verifier would: render page 1 and decode its QR codes, take the embedded
    content from the document information, extract the printed text. ``ValueError`` when the
    bytes are not a readable PDF."""
    if not data.startswith(b"%PDF-"):
        raise ValueError("the file is not a PDF")
    with tempfile.TemporaryDirectory(prefix="ykt-doc-") as workdir:
        pdf = Path(workdir) / "in.pdf"
        pdf.write_bytes(data)
        info = _run([_tool("pdfinfo"), "-enc", "UTF-8", str(pdf)])
        if info.returncode != 0:
            raise ValueError("the PDF cannot be opened")
        embedded = _embedded(info.stdout.decode("utf-8", "replace"))
        text = _run([_tool("pdftotext"), "-enc", "UTF-8", str(pdf), "-"])
        if b"Missing language pack" in text.stderr:
            # Without the CJK character collections poppler drops every Chinese character, and a
            # genuine certificate would fail the text check.
            raise VerifierUnavailable(
                "poppler cannot map the certificate's Chinese font on this node: install the "
                "Debian package poppler-data"
            )
        image = Path(workdir) / "page"
        # Greyscale PGM: a QR code needs no colour, and PNG compression would cost a second.
        first_page = ["-f", "1", "-l", "1", "-singlefile", "-gray"]
        rendered = _run([_tool("pdftoppm"), "-r", str(READ_DPI), *first_page, str(pdf), str(image)])
        pgm = image.with_suffix(".pgm")
        if rendered.returncode != 0 or not pgm.exists():
            raise ValueError("the PDF's first page cannot be rendered")
        qr_texts = decode_qr_codes(pgm.read_bytes())
    return PdfReading(qr_texts, embedded, text.stdout.decode("utf-8", "replace"))


def _embedded(info: str) -> bytes | None:
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key == "Keywords":
            value = value.strip()
            if not value.startswith(CONTENT_PREFIX):
                return None
            try:
                return base64.urlsafe_b64decode(value[len(CONTENT_PREFIX) :])
            except ValueError:
                return None
    return None


def decode_qr_codes(picture: bytes) -> list[str]:
    """The texts of every QR code in an image (PNG, PGM, …)."""
    image = Image.open(io.BytesIO(picture))
    image.load()
    results = zxingcpp.read_barcodes(
        image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    return [str(r.text) for r in results]
