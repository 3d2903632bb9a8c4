"""Templates and the context every page shares (city, version, who is signed in)."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from yikatong import __version__
from yikatong.core.clock import CHINA_TZ
from yikatong.node import Node

TEMPLATES_DIR = Path(str(resources.files("yikatong") / "web" / "templates"))
STATIC_DIR = Path(str(resources.files("yikatong") / "web" / "static"))
templates = Jinja2Templates(directory=TEMPLATES_DIR)
# ``{{ _("…") }}`` marks text for translation; Chinese is the source language.
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]

STATE_LABELS = {
    "applied": "已申领",
    "issued": "已制卡",
    "active": "正常",
    "suspended": "临时挂失",
    "lost": "正式挂失",
    "replaced": "已补换",
    "cancelled": "已注销",
}
RELATION_LABELS = {
    "spouse": "配偶",
    "parent": "父母",
    "child": "子女",
    "sibling": "兄弟姐妹",
    "grandparent": "祖父母/外祖父母",
    "grandchild": "孙子女/外孙子女",
}
templates.env.globals.update(state_label=STATE_LABELS.get, relation_label=RELATION_LABELS.get)


def local_time(instant: dt.datetime) -> str:
    """An instant as people in China read it (UTC+8), to the second."""
    return instant.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["local"] = local_time


def page_context(request: Request, node: Node) -> dict[str, object]:
    from yikatong.web.session import signed_in

    return {
        "request": request,
        "lang": "zh-CN",
        "city_name": node.settings.city_name,
        "city_code": node.city_code,
        "version": __version__,
        "principal": signed_in(request),
        "demo": node.settings.demo,
    }
