"""The clerk's web UI: queue and search, resident check, photo, card personalisation, print preview, batches.

GET  /login?token=T                  exchanges the printed access token for the session cookie
GET  /                               queue of residents without a card
POST /                               searches the queue by name, NIK or KK (field "q")
GET  /resident/{handle}              the register record to check, the photo, the issue button
POST /resident/{handle}/photo        uploads a photo (multipart field "photo"); shows why one is rejected
POST /resident/{handle}/camera       takes the photo with the station's camera, when one is configured
GET  /resident/{handle}/photo.jpg    the accepted portrait
POST /resident/{handle}/issue        personalises the card in the reader (or a QR-only card)
GET  /card/{card_number}             print preview of an issued card, downloads and the print button
GET  /card/{card_number}/{file}      preview.png, front.png, back.png or face.pdf
POST /card/{card_number}/print       sends face.pdf to the configured CUPS queue
GET  /batches                        progress of batch runs, refreshed every few seconds
POST /batches                        makes a batch of the queue and starts it
POST /batches/{batch_id}/resume      runs the waiting items of a stopped batch

No URL contains a NIK, so none ends up in the browser history: a resident is
named by a random handle that the queue page makes (issuance.web.handles),
and the search is a POST.

Any GET takes ?lang=id or ?lang=en and remembers the choice in a cookie. See
issuance.web.security for the access checks that every request passes.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from card.cardnumber import format_card_number, is_valid_card_number
from card.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translate
from hardware.pcsc import ReaderError
from issuance.batch import CardFailure
from issuance.cups import PrintError, print_pdf
from issuance.photo import MAX_UPLOAD_BYTES, PhotoRejected, capture_camera_photo, prepare_photo
from issuance.print_face import preview_png_from_files
from issuance.queue import QueueError, mask_number
from issuance.register import ResidentNotFoundError
from issuance.web import actions
from issuance.web.actions import StationSettings
from issuance.web.batch_runner import BatchRunner
from issuance.web.handles import ResidentHandles
from issuance.web.security import COOKIE_NAME, AccessGuard
from issuance.web.uploads import BodyTooLarge, read_capped_body, request_with_body
from issuance.web.worker import StationWorker

__all__ = ["create_app", "LANGUAGE_COOKIE"]

log = logging.getLogger(__name__)

LANGUAGE_COOKIE = "kartu_lang"
WEB_DIR = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # "same-origin", not "no-referrer": with no-referrer Chromium sends "Origin: null" on form posts.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Multipart framing around the photo adds well under this many bytes.
UPLOAD_OVERHEAD_BYTES = 64 * 1024
# Every other form has a form token and at most a search text, so a body past this size is no form of this UI.
FORM_MAX_BYTES = 16 * 1024
CARD_FILES = {"preview.png": "image/png", "front.png": "image/png", "back.png": "image/png", "face.pdf": "application/pdf"}
REASON_LABELS = {"new": N_("new card"), "reissue": N_("reissue")}

_templates = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"), autoescape=select_autoescape(["html"]),
    trim_blocks=True, lstrip_blocks=True,
)


def create_app(settings: StationSettings, guard: AccessGuard, worker: StationWorker | None = None) -> FastAPI:
    """Build the web UI for the station in settings; guard holds the access token and the listening port."""
    worker = worker or StationWorker(settings.station_dir)
    handles = ResidentHandles()
    runner = BatchRunner(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await run_in_threadpool(worker.close)

    app = FastAPI(title="Kartu Bahagia issuance station", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.worker = worker
    app.state.guard = guard
    app.state.batch_runner = runner
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

    async def station(work: Callable) -> object:
        return await run_in_threadpool(worker.call, work)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge) -> Response:
        log.warning("web UI POST %s rejected: body passed %d bytes", request.url.path, FORM_MAX_BYTES)
        return _plain(413, f"form body larger than {FORM_MAX_BYTES} bytes")

    @app.middleware("http")
    async def check_caller(request: Request, call_next) -> Response:
        if not guard.host_allowed(request.headers.get("host")):
            log.warning("web UI request rejected: Host %r is not this server", request.headers.get("host"))
            return _plain(400, "Host header must be 127.0.0.1 or localhost with this server's port")
        path = request.url.path
        if not (path == "/login" or path.startswith("/static/")):
            if not guard.session_matches(request.cookies.get(COOKIE_NAME)):
                return _render(request, "message.html", 401, title=N_("Not signed in"),
                               message=N_("Open the address that 'kartu issuance serve' printed when it started."))
            if request.method == "POST" and not guard.origin_allowed(request.headers.get("origin")):
                log.warning("web UI POST %s rejected: Origin %r is not this server", path, request.headers.get("origin"))
                return _plain(403, "cross-origin form submission rejected")
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        language = request.query_params.get("lang")
        if language in LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, language, samesite="strict", httponly=True)
        return response

    @app.get("/login")
    async def login(request: Request, token: str | None = None) -> Response:
        if not guard.token_matches(token):
            log.warning("web UI login with a wrong access token from %s", request.client.host if request.client else "?")
            return _render(request, "message.html", 403, title=N_("Access denied"),
                           message=N_("The access token is wrong. Open the address that 'kartu issuance serve' printed."))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE_NAME, guard.session_value, httponly=True, samesite="strict")
        return response

    @app.get("/")
    async def queue_page(request: Request) -> Response:
        return await _queue_response(request, "")

    @app.post("/")
    async def queue_search(request: Request) -> Response:
        form = await _small_form(request)
        if not guard.form_matches(form.get("csrf")):
            return _form_token_rejected(request)
        query = form.get("q")
        return await _queue_response(request, query if isinstance(query, str) else "")

    async def _queue_response(request: Request, q: str) -> Response:
        try:
            entries, total = await station(lambda st: actions.load_queue(st, settings, q))
        except QueueError as exc:
            return _render(request, "message.html", 500, title=N_("Queue unavailable"), message=str(exc))
        rows = [
            {"position": entry.position, "name": entry.resident.name,
             "handle": handles.handle_for(entry.resident.nik), "masked_nik": mask_number(entry.resident.nik), "kelurahan": entry.resident.kelurahan,
             "reason": REASON_LABELS.get(entry.reason, entry.reason)}
            for entry in entries
        ]
        return _render(request, "queue.html", title=N_("Issuance queue"), rows=rows, total=total, query=q)

    @app.get("/resident/{handle}")
    async def resident_page(request: Request, handle: str) -> Response:
        return await _resident_response(request, handle)

    async def _resident_response(request: Request, handle: str, status_code: int = 200, **extra) -> Response:
        nik = handles.nik_for(handle)
        if nik is None:
            return _not_found(request, handle)

        def load(st):
            resident = actions.lookup_resident(st, settings, nik)
            actions.record_nik_shown(st, settings, nik)
            return resident, actions.card_of_resident(st, nik), actions.stored_photo(settings, nik) is not None

        try:
            resident, card_number, has_photo = await station(load)
        except ResidentNotFoundError:
            return _not_found(request, handle)
        except OSError as exc:
            return _render(request, "message.html", 500, title=N_("Register unavailable"),
                           message=f"{settings.register}: {exc.strerror}")
        return _render(request, "resident.html", status_code, title=resident.name, resident=resident, handle=handle,
                       card_number=card_number, has_photo=has_photo, qr_only=settings.qr_only,
                       camera=settings.camera, **extra)

    @app.post("/resident/{handle}/photo")
    async def upload_photo(request: Request, handle: str) -> Response:
        nik = handles.nik_for(handle)
        if nik is None:
            return _not_found(request, handle)
        # The declared size rejects most oversized uploads at once, and the streaming cap rejects the
        # rest (chunked uploads and wrong Content-Length headers) without buffering them.
        cap = MAX_UPLOAD_BYTES + UPLOAD_OVERHEAD_BYTES
        declared = int(request.headers.get("content-length") or 0)
        try:
            if declared > cap:
                raise BodyTooLarge(declared)
            body = await read_capped_body(request, cap)
        except BodyTooLarge as exc:
            log.info("photo upload rejected: body passed %d bytes", cap)
            rejection = PhotoRejected("too_large_file", N_("The photo file is {size} bytes, more than the {maximum} "
                                                           "bytes accepted. Choose the JPEG straight from the camera."),
                                      size=exc.received, maximum=MAX_UPLOAD_BYTES)
            return await _resident_response(request, handle, 413, photo_error=rejection.message(_language(request)))
        form = await request_with_body(request, body).form(max_files=1, max_fields=4)
        if not guard.form_matches(form.get("csrf")):
            return _form_token_rejected(request)
        upload = form.get("photo")
        data = await upload.read(MAX_UPLOAD_BYTES + 1) if isinstance(upload, UploadFile) else b""
        return await _accept_photo(request, handle, nik, lambda: prepare_photo(data))

    @app.post("/resident/{handle}/camera")
    async def camera_photo(request: Request, handle: str) -> Response:
        form = await _small_form(request)
        if not guard.form_matches(form.get("csrf")):
            return _form_token_rejected(request)
        nik = handles.nik_for(handle)
        if nik is None or settings.camera is None:
            return _not_found(request, handle)
        return await _accept_photo(request, handle, nik,
                                   lambda: prepare_photo(capture_camera_photo(settings.camera)))

    async def _accept_photo(request: Request, handle: str, nik: str, take: Callable) -> Response:
        """Run take() to get a PreparedPhoto and store it, or show the rejection reason on the resident page."""
        try:
            prepared = await run_in_threadpool(take)
        except PhotoRejected as exc:
            log.info("photo rejected for a resident: %s", exc.reason)
            return await _resident_response(request, handle, 422, photo_error=exc.message(_language(request)))
        await station(lambda st: actions.save_photo(settings, nik, prepared.jpeg))
        return RedirectResponse(f"/resident/{handle}?photo=accepted", status_code=303)

    @app.get("/resident/{handle}/photo.jpg")
    async def photo_file(request: Request, handle: str) -> Response:
        nik = handles.nik_for(handle)
        data = actions.stored_photo(settings, nik) if nik is not None else None
        if data is None:
            return _not_found(request, handle)
        return Response(data, media_type="image/jpeg")

    @app.post("/resident/{handle}/issue")
    async def issue(request: Request, handle: str) -> Response:
        form = await _small_form(request)
        if not guard.form_matches(form.get("csrf")):
            return _form_token_rejected(request)
        nik = handles.nik_for(handle)
        if nik is None:
            return _not_found(request, handle)
        language = _language(request)
        if runner.busy():
            return await _resident_response(request, handle, 409, issue_error=translate(
                N_("A batch is using the card reader. Issue this card when the batch has finished."), language))

        def run(st):
            resident = actions.lookup_resident(st, settings, nik)
            existing = actions.card_of_resident(st, nik)
            if existing is not None:
                return translate(N_("This resident already has card {card}. A lost card is replaced with "
                                    "'kartu issuance reissue'."), language, card=format_card_number(existing))
            photo = actions.stored_photo(settings, nik)
            if photo is None:
                return translate(N_("Take the resident's photo first; the card needs an accepted photo."), language)
            return actions.issue_for_resident(st, settings, resident, photo, date.today(), language)

        try:
            outcome = await station(run)
        except ResidentNotFoundError:
            return _not_found(request, handle)
        except ReaderError as exc:
            return await _resident_response(request, handle, 503, issue_error=exc.message(language))
        except CardFailure as exc:
            return await _resident_response(request, handle, 500, issue_error=str(exc))
        if isinstance(outcome, str):
            return await _resident_response(request, handle, 409, issue_error=outcome)
        return RedirectResponse(f"/card/{outcome.card_number}", status_code=303)

    @app.get("/card/{card_number}")
    async def card_page(request: Request, card_number: str, printed: str | None = None) -> Response:
        return await _card_response(request, card_number, printed_job=printed)

    async def _card_response(request: Request, card_number: str, status_code: int = 200, **extra) -> Response:
        info = await station(lambda st: actions.issued_card(st, card_number)) if is_valid_card_number(card_number) else None
        if info is None:
            return _not_found(request, card_number)
        resident = await station(lambda st: _resident_or_none(st, settings, info.nik))
        return _render(request, "card.html", status_code, title=format_card_number(card_number), info=info,
                       resident=resident, card_display=format_card_number(card_number),
                       print_queue=settings.print_queue, **extra)

    @app.get("/card/{card_number}/{name}")
    async def card_file(request: Request, card_number: str, name: str) -> Response:
        if name not in CARD_FILES or not is_valid_card_number(card_number):
            return _not_found(request, card_number)
        front, back, pdf = await station(lambda st: actions.card_files(settings, card_number))
        if not front.exists():
            return _not_found(request, card_number)
        if name == "preview.png":
            return Response(await run_in_threadpool(preview_png_from_files, front, back), media_type="image/png")
        path = {"front.png": front, "back.png": back, "face.pdf": pdf}[name]
        return FileResponse(path, media_type=CARD_FILES[name], filename=f"{card_number}-{name}")

    @app.post("/card/{card_number}/print")
    async def print_card(request: Request, card_number: str) -> Response:
        form = await _small_form(request)
        if not guard.form_matches(form.get("csrf")):
            return _form_token_rejected(request)
        if not is_valid_card_number(card_number) or settings.print_queue is None:
            return _not_found(request, card_number)
        _, _, pdf = await station(lambda st: actions.card_files(settings, card_number))
        if not pdf.exists():
            return _not_found(request, card_number)
        try:
            job = await run_in_threadpool(print_pdf, pdf, settings.print_queue, card_number)
        except PrintError as exc:
            return await _card_response(request, card_number, 502, print_error=exc.message(_language(request)))
        return RedirectResponse(f"/card/{card_number}?printed={job}", status_code=303)

    @app.get("/batches")
    async def batches_page(request: Request, started: int | None = None, without_photo: int = 0,
                           reissues: int = 0) -> Response:
        new_batch = actions.NewBatch(started, without_photo, reissues) if started is not None else None
        return await _batches_response(request, new_batch=new_batch)

    async def _batches_response(request: Request, status_code: int = 200, **extra) -> Response:
        batches = await station(actions.batch_progress)
        return _render(request, "batches.html", status_code, title=N_("Batches"), batches=batches,
                       running=runner.batch_id if runner.busy() else None, status_lines=runner.status_lines(),
                       **extra)

    @app.post("/batches")
    async def start_batch(request: Request) -> Response:
        form = await _small_form(request)
        if not guard.form_matches(form.get("csrf")):
            return _form_token_rejected(request)
        language = _language(request)
        if runner.busy():
            return await _batches_response(request, 409, batch_error=translate(
                N_("Batch {batch_id} is still running. Start the next batch when it has finished."), language,
                batch_id=runner.batch_id))
        try:
            new_batch = await station(lambda st: actions.create_queue_batch(st, settings))
        except QueueError as exc:
            return await _batches_response(request, 500, batch_error=exc.message(language))
        if new_batch.batch_id is None:
            return await _batches_response(request, 409, new_batch=new_batch)
        runner.start(new_batch.batch_id, language)
        return RedirectResponse(f"/batches?started={new_batch.batch_id}&without_photo={new_batch.without_photo}"
                                f"&reissues={new_batch.reissues}", status_code=303)

    @app.post("/batches/{batch_id}/resume")
    async def resume_batch(request: Request, batch_id: int) -> Response:
        form = await _small_form(request)
        if not guard.form_matches(form.get("csrf")):
            return _form_token_rejected(request)
        if not any(row.batch_id == batch_id for row in await station(actions.batch_progress)):
            return _not_found(request, str(batch_id))
        if not runner.start(batch_id, _language(request)):
            return await _batches_response(request, 409, batch_error=translate(
                N_("Batch {batch_id} is still running. Start the next batch when it has finished."),
                _language(request), batch_id=runner.batch_id))
        return RedirectResponse("/batches", status_code=303)

    return app


async def _small_form(request: Request) -> FormData:
    """Parse a form without a file, raising BodyTooLarge once the body passes FORM_MAX_BYTES while it streams."""
    body = await read_capped_body(request, FORM_MAX_BYTES)
    return await request_with_body(request, body).form(max_files=0, max_fields=4)


def _resident_or_none(station, settings: StationSettings, nik: str):
    try:
        return actions.lookup_resident(station, settings, nik)
    except (ResidentNotFoundError, OSError):
        return None


def _language(request: Request) -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def _render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    language = _language(request)

    def gettext(message: str, **params: object) -> str:
        return translate(message, language, **params)

    html = _templates.get_template(template).render(
        _=gettext, lang=language, path=request.url.path, form_token=request.app.state.guard.form_value, **context
    )
    return HTMLResponse(html, status_code=status_code)


def _not_found(request: Request, value: str) -> HTMLResponse:
    return _render(request, "message.html", 404, title=N_("Not found"),
                   message=translate(N_("Nothing was found for {value}. Go back to the queue and search again."),
                                     _language(request), value=value))


def _form_token_rejected(request: Request) -> Response:
    log.warning("web UI POST %s rejected: form token missing or wrong", request.url.path)
    return _plain(403, "form token missing or wrong; reload the page")


def _plain(status_code: int, text: str) -> Response:
    return Response(text + "\n", status_code=status_code, media_type="text/plain", headers=SECURITY_HEADERS)
