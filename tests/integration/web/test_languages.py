"""Pages in Chinese by default and in English on request: the switch, the browser's language,
``<html lang>`` and the labels views put together."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from yikatong.api.auth import issue_token
from yikatong.node import Node


def _lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', html)
    assert found is not None
    return found.group(1)


def test_a_page_is_chinese_by_default_and_english_for_an_english_browser(
    client: TestClient,
) -> None:
    chinese = client.get("/login")
    assert _lang(chinese.text) == "zh-CN"
    assert "使用访问令牌" in chinese.text and "With an access token" not in chinese.text
    english = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert _lang(english.text) == "en"
    assert "With an access token" in english.text and "使用访问令牌" not in english.text


def test_the_switch_remembers_the_choice_and_returns_to_the_page(
    client: TestClient, node: Node
) -> None:
    switched = client.get("/lang/en?next=/console", follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/console"
    assert client.cookies.get("lang") == "en"
    client.cookies.set("ykt_token", issue_token(node, "clerk-lang", ["clerk"]))
    console = client.get("/console", headers={"Accept-Language": "zh-CN"})
    assert _lang(console.text) == "en" and "Find a resident" in console.text
    assert 'href="/lang/zh-CN?next=/console"' in console.text  # the way back
    back = client.get("/lang/zh-CN?next=/console")
    assert _lang(back.text) == "zh-CN" and "查找参保人" in back.text


def test_the_switch_goes_nowhere_else_and_knows_its_languages(client: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        answer = client.get("/lang/en", params={"next": target}, follow_redirects=False)
        assert answer.headers["location"] == "/", target
    unknown = client.get("/lang/fr?next=/", follow_redirects=False)
    assert unknown.status_code == 422 and "lang" not in unknown.cookies


def test_state_labels_made_by_the_view_are_translated(client: TestClient) -> None:
    home_en = client.get("/", headers={"Accept-Language": "en"})
    assert "Cards · Active" in home_en.text and "正常" not in home_en.text
    assert "社保卡 · 正常" in client.get("/").text
