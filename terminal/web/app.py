"""The terminal's web app: one page, a server-sent event stream, and the counter's inputs.

Who may call: the app listens on 127.0.0.1 only. It accepts only the Host
names 127.0.0.1 and localhost, so a web page elsewhere cannot reach it by
DNS rebinding. It serves only a browser that opened the address with the
access token printed at start: that browser gets the token as an HttpOnly,
SameSite=Strict cookie, and every other request gets 401. Form posts must
also come from the terminal's own origin.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from card.i18n import DEFAULT_LANGUAGE, LANGUAGES, translate
from terminal.receipt_cli import NO_PRINTER
from terminal.receipt_queue import ReceiptNotFound
from terminal.web import messages
from terminal.web.counter import Counter
from terminal.web.events import format_event

__all__ = ["create_app", "SESSION_COOKIE", "LANGUAGE_COOKIE"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "kartu_terminal"
LANGUAGE_COOKIE = "kartu_lang"
# Seconds between keep-alive status updates on an idle event stream.
KEEPALIVE_SECONDS = 15.0
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]


def _language(request: Request) -> str:
    language = request.cookies.get(LANGUAGE_COOKIE, DEFAULT_LANGUAGE)
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _authorised(request: Request, token: str) -> bool:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return hmac.compare_digest(cookie.encode(), token.encode())


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin in {f"http://{host}:{request.url.port}" for host in ALLOWED_HOSTS}


def _unauthorised(request: Request) -> HTMLResponse:
    log.warning("terminal page request rejected: missing or invalid access token (%s %s)", request.method, request.url.path)
    return HTMLResponse(translate(messages.PAGE_TEXTS["unauthorised"], _language(request)), status_code=401)


def create_app(counter: Counter, token: str, start_counter: bool = True) -> FastAPI:
    """Build the app for counter; token is the access token printed by `kartu terminal serve`."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        counter.broker.bind(asyncio.get_running_loop())
        if start_counter:
            counter.start()
        yield
        # Without the card thread, stop() still ends the print worker that QR scans may have started.
        await run_in_threadpool(counter.stop)

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS)

    @app.middleware("http")
    async def check_caller(request: Request, call_next):
        offered = request.query_params.get("token")
        if request.method == "GET" and offered is not None:
            if not hmac.compare_digest(offered.encode(), token.encode()):
                return _unauthorised(request)
            response = RedirectResponse(request.url.path, status_code=303)
            response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict")
            return response
        if not _authorised(request, token):
            return _unauthorised(request)
        if request.method == "POST" and not _same_origin(request):
            log.warning("terminal form post rejected: origin %s", request.headers.get("origin"))
            return JSONResponse({"error": "cross-origin request refused"}, status_code=403)
        return await call_next(request)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request):
        language = _language(request)
        mode = counter.mode
        return templates.TemplateResponse(request, "terminal.html", {
            "language": language,
            "other_language": "en" if language == "id" else "id",
            "texts": messages.page_texts(language),
            "mode": mode,
            "mode_title": translate(mode.title, language),
            "quantities": list(range(1, mode.max_quantity + 1)),
        })

    @app.get("/language/{language}")
    async def switch_language(language: str):
        if language not in LANGUAGES:
            return JSONResponse({"error": f"language {language!r} is not supported; use id or en"}, status_code=404)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(LANGUAGE_COOKIE, language, samesite="strict")
        return response

    @app.get("/events")
    async def events(request: Request):
        language = _language(request)
        return StreamingResponse(_stream(request, counter, language), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    @app.post("/qr")
    async def scan_qr(request: Request, text: str = Form(""), quantity: int = Form(1)):
        language = _language(request)
        if not text.strip():
            return JSONResponse({"error": translate(messages.QR_EMPTY, language)}, status_code=422)
        error = _set_quantity(counter, quantity, language)
        if error:
            return error
        screen = await run_in_threadpool(counter.scan_qr, text.strip())
        return JSONResponse(screen.render(language))

    @app.post("/quantity")
    async def set_quantity(request: Request, quantity: int = Form(...)):
        return _set_quantity(counter, quantity, _language(request)) or JSONResponse({"quantity": quantity})

    @app.post("/pin")
    async def set_pin(request: Request, pin: str = Form("")):
        language = _language(request)
        if not counter.mode.requires_pin:
            return JSONResponse({"error": "this mode takes no PIN"}, status_code=404)
        try:
            counter.set_pin(pin)
        except ValueError:
            return JSONResponse({"error": translate(messages.PIN_FORMAT, language)}, status_code=422)
        return JSONResponse({"message": translate(messages.PAGE_TEXTS["pin_ready"], language)})

    @app.post("/receipt/reprint")
    async def reprint_receipt(request: Request, number: int = Form(...)):
        language = _language(request)
        if counter.receipts is None:
            return JSONResponse({"error": translate(NO_PRINTER, language)}, status_code=404)
        try:
            state = await run_in_threadpool(counter.reprint, number)
        except ReceiptNotFound as exc:
            return JSONResponse({"error": exc.message(language)}, status_code=404)
        if state.failed:
            return JSONResponse({"error": state.error.message(language)}, status_code=503)
        return JSONResponse({"message": translate(messages.RECEIPT_REPRINTED, language, number=number)})

    @app.get("/status")
    async def status(request: Request):
        current = await run_in_threadpool(counter.status)
        return JSONResponse(current.render(_language(request)))

    return app


def _set_quantity(counter: Counter, quantity: int, language: str) -> JSONResponse | None:
    try:
        counter.set_quantity(quantity)
    except ValueError:
        text = translate(messages.QUANTITY_INVALID, language, value=quantity, maximum=counter.mode.max_quantity)
        return JSONResponse({"error": text}, status_code=422)
    return None


async def _stream(request: Request, counter: Counter, language: str):
    """Stream the status bar, then every screen; the status is sent again after each screen and when idle."""
    status = await run_in_threadpool(counter.status)
    yield format_event("status", status.render(language))
    async for screen in counter.broker.subscribe(KEEPALIVE_SECONDS):
        if await request.is_disconnected():
            return
        if screen is not None:
            yield format_event("screen", screen.render(language))
        status = await run_in_threadpool(counter.status)
        yield format_event("status", status.render(language))
