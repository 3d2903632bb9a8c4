"""The FastAPI application factory."""

from __future__ import annotations

import gc
import importlib

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from yikatong import __version__
from yikatong.api import problems
from yikatong.api.system import MAX_CONNECTIONS, RequestsInFlight
from yikatong.core.settings import Settings
from yikatong.node import Node, set_current

# Domains whose ``api.router`` is mounted, in the order they appear in the OpenAPI document.
# A request walks the routers in this order until one matches: the routers of terminal requests
# (rides, payments, meals, gate entries, voucher redemptions: hundreds a second in a city) come
# first. At the end of the list, matching a ride cost ~0.2 ms of the event loop per request, and
# the server saturated at ~150 authorisations/s. No router answers another's paths
# (``tests/integration/system/test_routing.py``), so the order decides nothing but speed.
ROUTERS: tuple[str, ...] = (
    "yikatong.transit.api",
    "yikatong.acquiring.api",
    "yikatong.canteens.api",
    "yikatong.venues.api",
    "yikatong.vouchers.api",
    "yikatong.cards.api",
    "yikatong.api.system",
    "yikatong.api.calendar",
    "yikatong.federation.api",
    "yikatong.ledger.api",
    "yikatong.medical.api",
    "yikatong.registry.api",
    "yikatong.essc.api",
    "yikatong.audit.api",
    "yikatong.documents.api",
    "yikatong.benefits.api",
    "yikatong.certification.api",
    "yikatong.pensions.api",
    "yikatong.appraisal.api",
    "yikatong.bundles.api",
    "yikatong.stats.api",
    "yikatong.web.pages",
    "yikatong.web.session",
    "yikatong.web.portal",
    "yikatong.web.console",
    "yikatong.web.kiosk",
    "yikatong.web.bundles",
    "yikatong.web.batches",
    "yikatong.web.rides",
    "yikatong.web.language",
    "yikatong.web.dashboard",
    "yikatong.web.more_pages",
)


def create_app(settings: Settings | None = None, node: Node | None = None) -> FastAPI:
    if node is None:
        node = Node.open(settings or Settings())
    set_current(node)
    app = FastAPI(
        title="yikatong 一卡通",
        version=__version__,
        summary=f"Social security card services of {node.settings.city_name} ({node.city_code})",
        docs_url="/docs",
        responses=problems.ERROR_RESPONSES,
    )
    app.state.node = node
    app.add_middleware(RequestsInFlight)
    problems.install(app)
    problems.add_problem_schema(app)
    for module_name in ROUTERS:
        module = importlib.import_module(module_name)
        app.include_router(module.router)
    from yikatong.web.render import STATIC_DIR

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def run_server(app: FastAPI, *, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until stopped (``ykt serve``, ``ykt demo``).

    What the process holds by now (modules, routes, schemas, policies: some 250,000 objects)
    lives as long as it does, so ``gc.freeze`` takes it out of the collector's full passes.
    Without that, a full collection walked all of it every ~20 s under terminal load: a 120 ms
    pause in which every request waited, and p99 at 200 ride authorisations/s went from
    57 ms to 146 ms.
    """
    import uvicorn

    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level="info", limit_concurrency=MAX_CONNECTIONS)
