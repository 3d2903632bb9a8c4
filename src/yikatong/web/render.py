"""Templates and the context every page shares (city, version, who is signed in, language).

Chinese is the source language of every page: ``{{ _("…") }}`` marks text for translation and
the English catalogue (``web/locale/en/LC_MESSAGES/messages.po``) gives the other language. The
catalogue is compiled in memory from the ``.po`` the first time it is needed, so a fresh clone
works without a build step. The language of a request: the ``lang`` cookie set by the switch in
the header, else the browser's ``Accept-Language``, else Chinese.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from yikatong import __version__
from yikatong.core.clock import CHINA_TZ
from yikatong.core.money import format_yuan
from yikatong.node import Node

TEMPLATES_DIR = Path(str(resources.files("yikatong") / "web" / "templates"))
STATIC_DIR = Path(str(resources.files("yikatong") / "web" / "static"))
LOCALE_DIR = Path(str(resources.files("yikatong") / "web" / "locale"))
templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.add_extension("jinja2.ext.i18n")

SOURCE_LANGUAGE = "zh-CN"
LANGUAGES = {"zh-CN": "中文", "en": "English"}
LANG_COOKIE = "lang"


def N_(text: str) -> str:
    """Mark text for the catalogue without translating it here (translated where it is shown)."""
    return text


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang``, compiled in memory from its ``.po``; Chinese needs none."""
    if lang == SOURCE_LANGUAGE or lang not in LANGUAGES:
        return gettext.NullTranslations()
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def choose_language(request: Request) -> str:
    """The ``lang`` cookie, else the first language of ``Accept-Language`` we have, else zh-CN."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    for _quality, _position, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary == "zh":
            return SOURCE_LANGUAGE
        if primary == "en":
            return "en"
    return SOURCE_LANGUAGE


def translator(request: Request) -> Callable[[str], str]:
    """``gettext`` in the request's language, for text a view puts together."""
    return translations(choose_language(request)).gettext


@pass_context
def _gettext(context: Context, message: str) -> str:
    found = context.get("translations")
    return found.gettext(message) if isinstance(found, gettext.NullTranslations) else message


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    found = context.get("translations")
    if isinstance(found, gettext.NullTranslations):
        return found.ngettext(singular, plural, n)
    return singular if n == 1 else plural


templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    _gettext, _ngettext, newstyle=True
)

STATE_LABELS = {
    "applied": N_("已申领"),
    "issued": N_("已制卡"),
    "active": N_("正常"),
    "suspended": N_("临时挂失"),
    "lost": N_("正式挂失"),
    "replaced": N_("已补换"),
    "cancelled": N_("已注销"),
}
RELATION_LABELS = {
    "spouse": N_("配偶"),
    "parent": N_("父母"),
    "child": N_("子女"),
    "sibling": N_("兄弟姐妹"),
    "grandparent": N_("祖父母/外祖父母"),
    "grandchild": N_("孙子女/外孙子女"),
}


def _label(labels: dict[str, str]) -> Callable[..., str | None]:
    @pass_context
    def label(context: Context, value: str) -> str | None:
        text = labels.get(value)
        return None if text is None else _gettext(context, text)

    return label


templates.env.globals.update(
    state_label=_label(STATE_LABELS), relation_label=_label(RELATION_LABELS)
)


def local_time(instant: dt.datetime) -> str:
    """An instant as people in China read it (UTC+8), to the second."""
    return instant.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["local"] = local_time
templates.env.filters["yuan"] = format_yuan


def page_context(request: Request, node: Node) -> dict[str, Any]:
    from yikatong.web.session import signed_in

    lang = choose_language(request)
    return {
        "request": request,
        "lang": lang,
        "languages": LANGUAGES,
        "translations": translations(lang),
        "city_name": node.settings.city_name,
        "city_code": node.city_code,
        "version": __version__,
        "principal": signed_in(request),
        "demo": node.settings.demo,
    }
