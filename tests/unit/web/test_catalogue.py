"""The English catalogue covers every text the web marks for translation (CI fails otherwise)."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from yikatong.web.render import LOCALE_DIR, choose_language, translations

ROOT = Path(__file__).resolve().parents[3]
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _extracted() -> dict[str, str]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, str] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, filename)
    return found


def _catalogue() -> dict[str, str]:
    with (LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale="en")
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


def test_every_marked_text_has_an_english_translation() -> None:
    extracted, english = _extracted(), _catalogue()
    assert len(extracted) > 100  # the templates were found
    missing = sorted(
        f"{where}: {msgid}" for msgid, where in extracted.items() if msgid not in english
    )
    assert missing == [], "add these to the English catalogue (see babel.cfg)"


def test_translations_keep_their_placeholders() -> None:
    for msgid, text in _catalogue().items():
        assert sorted(_PLACEHOLDER.findall(msgid)) == sorted(_PLACEHOLDER.findall(text)), msgid


def test_the_catalogue_is_compiled_from_the_po_without_a_build_step() -> None:
    assert translations("en").gettext("退出") == "Sign out"
    assert translations("zh-CN").gettext("退出") == "退出"


class _Asked:
    def __init__(self, cookie: str | None = None, accept: str | None = None) -> None:
        self.cookies = {"lang": cookie} if cookie else {}
        self.headers = {"accept-language": accept} if accept else {}


def test_the_language_is_the_cookie_then_the_browser_then_chinese() -> None:
    assert choose_language(_Asked()) == "zh-CN"  # type: ignore[arg-type]
    assert choose_language(_Asked(accept="en-GB,en;q=0.9")) == "en"  # type: ignore[arg-type]
    assert choose_language(_Asked(accept="fr-FR, en;q=0.5, zh;q=0.8")) == "zh-CN"  # type: ignore[arg-type]
    assert choose_language(_Asked(accept="de, fr;q=0.9")) == "zh-CN"  # type: ignore[arg-type]
    assert choose_language(_Asked(accept="en;q=0, zh-TW")) == "zh-CN"  # type: ignore[arg-type]
    assert choose_language(_Asked(cookie="en", accept="zh-CN")) == "en"  # type: ignore[arg-type]
    assert choose_language(_Asked(cookie="xx", accept="en")) == "en"  # type: ignore[arg-type]
