"""The central server application.

create_app(database_url, admin_token) connects to the database, runs the
migrations up to the latest revision and returns the FastAPI app. Every
route sits under /api/v1 and checks its caller (see server.auth). The
interactive docs and the OpenAPI document are not served, so every route
requires a caller check. app.openapi() still builds the schema in code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from card.cose import Signer
from server.api import cards, holders, people, service_points, stats, sync, terminals
from server.api import findings, issuance_queue, kiosk, programmes, register, trust
from server.api.responses import document_error_responses
from server.dashboard import routes as dashboard
from server.db import create_db_engine, make_sessionmaker, redacted_url, upgrade_database
from server.errors import install_error_handlers
from server.limits import BodySizeLimit
from server.login_limit import LoginLimiter
from server.periods import Clock
from server.reconcile_queue import Reconciler
from server.revocations import publish_empty_revocation_list
from server.settings import Settings
from server.sync_key_check import SyncKeyMonitor, check_sync_key_now

__all__ = ["create_app", "API_PREFIX", "MAX_BODY_BYTES"]

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
# A full batch of 1000 records of at most 1024 bytes is about 1.4 MB of base64 JSON.
MAX_BODY_BYTES = 2 * 1024 * 1024


def _api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (
        cards, holders, service_points, terminals, sync, stats, people, register, programmes, findings, trust,
        issuance_queue, kiosk,
    ):
        router.include_router(module.router)
    return router


def create_app(
    database_url: str, admin_token: str, *, clock: Clock = time.time, household_key: bytes | None = None,
    sync_signer: Signer | None = None,
) -> FastAPI:
    """Build the app over database_url, migrating the database first.

    clock returns the current Unix time; tests pass a controllable one.
    household_key is the city's household key, which register imports need
    to link households to cards (see server.register_import).
    sync_signer is the server's sync key, which signs card revocation lists
    (see server.revocations) and entitlement sets (server.entitlement_sets);
    without it, revoking a card and pulling entitlements return 503.
    Raises ValueError when the admin token has fewer than 32 printable
    characters or contains whitespace.
    """
    settings = Settings(admin_token=admin_token, clock=clock)
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    reconciler = Reconciler(engine, make_sessionmaker(engine))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        reconciler.start()
        yield
        reconciler.stop()
        engine.dispose()
        logger.info("closed database %s", redacted_url(engine.url))

    app = FastAPI(
        title="Kartu Bahagia central server",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.household_key = household_key
    app.state.sync_signer = sync_signer
    if sync_signer is None:
        logger.warning("the server has no sync key: terminals cannot pull entitlements and cards cannot be revoked "
                       "until it is restarted with one")
    app.state.sync_key_monitor = SyncKeyMonitor()
    with app.state.sessionmaker() as session:
        check_sync_key_now(app, session, clock())
        if sync_signer is not None:
            publish_empty_revocation_list(session, sync_signer, clock())
    app.state.login_limiter = LoginLimiter(engine)
    app.state.reconciler = reconciler
    install_error_handlers(app)
    app.include_router(_api_router())
    app.include_router(dashboard.router)
    document_error_responses(app)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    return app
