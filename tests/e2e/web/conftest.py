"""A demo node served over real HTTP by uvicorn, and headless Chromium (Debian's) driven by
Playwright. Screenshots go to artifacts/screenshots/.

The node's clock stands at a fixed Monday lunchtime in Qingdao for the whole module: the pages
then show the same working-day deadlines, meal times and voucher releases whatever day the suite
runs on, and no deadline runs past the last published holiday calendar."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.support.tools import need
from yikatong.api.app import create_app
from yikatong.core import clock
from yikatong.core.settings import Settings
from yikatong.demo.load import DemoReport, load_demo
from yikatong.node import Node, set_current

SCREENSHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"
# 2026-11-16 12:00 Beijing time, a working Monday.
SITE_TIME = dt.datetime(2026, 11, 16, 4, 0, tzinfo=dt.UTC)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Site:
    def __init__(self, node: Node, report: DemoReport, base_url: str) -> None:
        self.node, self.report, self.base_url = node, report, base_url


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with clock.clock_override(clock.FixedClock(SITE_TIME)):
        yield from _served_site(tmp_path_factory)


def _served_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("web-node")
    node = Node.open(Settings(data_dir=data_dir, demo=True, city_code="370200"))
    set_current(node)
    report = load_demo(node, residents=300, seed=8)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(node=node), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    yield Site(node, report, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
    set_current(None)
    node.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    chromium = need("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    opened = context.new_page()
    yield opened
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


AXE = Path(__file__).resolve().parents[3] / ".cache" / "node" / "node_modules" / "axe-core"


def axe_violations(page: object, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of the given impacts on the page as it is now, one line each."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    script = AXE / "axe.min.js"
    if not script.is_file():
        message = f"axe-core is not installed at {AXE} (scripts/test.sh installs it with npm)"
        pytest.fail(message)
    page.add_script_tag(path=str(script))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in impacts
    ]
