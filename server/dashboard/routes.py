"""The staff dashboard: server-rendered HTML pages in Bahasa Indonesia, English on request.

GET  /dashboard                 overview (redirects to the login page without a session)
GET  /dashboard/login           login form;  POST /dashboard/login  checks it and sets the session cookie
POST /dashboard/logout          ends the session
POST /dashboard/service-points/{id}/enrolment-codes   administrators only

Any GET takes ?lang=id or ?lang=en and remembers the choice in a cookie.
The session travels in an HttpOnly, SameSite=Strict cookie, and every POST
after login also carries a form field derived from the session token, so a
page on another site cannot submit a form as a logged-in staff member.
The pages load no script and nothing from another origin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Path as PathParam, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from card.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translate
from server.api.service_points import create_enrolment_code
from server.audit import SUBJECT_FINDING, record_reads
from server.dashboard import charts, queries
from server.db import SessionDep
from server.login_limit import LoginLocked, client_address, login_limiter
from server.people import authenticate
from server.periods import utc_datetime
from server.sessions import COOKIE_NAME, SESSION_LIFETIME, Caller, create_session, end_session, find_session
from server.settings import SettingsDep

__all__ = ["router", "LANGUAGE_COOKIE"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/dashboard", include_in_schema=False)

LANGUAGE_COOKIE = "kartu_lang"
MAX_FORM_BYTES = 4096
ROLE_LABELS = {"administrator": N_("administrator"), "operator": N_("operator"), "auditor": N_("auditor")}
FINDING_LABELS = {
    "quota_overuse": N_("Household quota exceeded across terminals"),
    "distant_use": N_("Card used at distant service points within minutes"),
    "no_card_signature": N_("Hand-over without a card signature (QR)"),
    "terminal_volume": N_("Terminal volume far above its peers"),
    "pin_unproven": N_("PIN hand-over without a verified PIN signature"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _language(request: Request) -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def _csrf_value(session_token: str) -> str:
    return hashlib.sha256(b"kartu-dashboard-form:" + session_token.encode("utf-8")).hexdigest()[:32]


def _render(request: Request, template: str, status_code: int = 200, caller: Caller | None = None, **context) -> HTMLResponse:
    language = _language(request)

    def gettext(message: str, **params: object) -> str:
        return translate(message, language, **params)

    token = request.cookies.get(COOKIE_NAME, "")
    html = _templates.get_template(template).render(
        _=gettext,
        lang=language,
        caller=caller,
        role_label=gettext(ROLE_LABELS[caller.role]) if caller else "",
        csrf=_csrf_value(token) if caller else "",
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="strict", httponly=True)
    return response


def _message(request: Request, caller: Caller | None, status_code: int, heading: str, *lines: str, code: str = "") -> HTMLResponse:
    language = _language(request)
    return _render(request, "message.html", status_code, caller, title=translate(heading, language),
                   heading=translate(heading, language), lines=lines, code=code)


def _cookie_caller(request: Request, session) -> Caller | None:
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    row = find_session(session, token, utc_datetime(request.app.state.settings.clock()))
    return Caller.of_user(row.user) if row is not None else None


async def read_form(request: Request) -> dict[str, str]:
    """Parse an application/x-www-form-urlencoded body of at most MAX_FORM_BYTES; keep the first value of each field.

    Reading the body is the only asynchronous step, so the routes that take
    this dependency are plain functions that FastAPI runs in its thread pool,
    where password hashing and database calls do not block the event loop.
    """
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, detail="form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items()}


FormDep = Annotated[dict[str, str], Depends(read_form)]


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _render(request, "login.html", title=translate(N_("Staff login"), _language(request)))


@router.post("/login", response_class=HTMLResponse)
def log_in(request: Request, form: FormDep, session: SessionDep, settings: SettingsDep) -> Response:
    username = form.get("username", "")[:64]
    language = _language(request)
    limiter = login_limiter(request)
    client = client_address(request)
    now = settings.clock()
    try:
        limiter.check(username, client, now)
    except LoginLocked as locked:
        response = _render(request, "login.html", status.HTTP_429_TOO_MANY_REQUESTS,
                           title=translate(N_("Staff login"), language),
                           error=translate(N_("Too many failed logins. Try again in {seconds} seconds."), language,
                                           seconds=locked.retry_after))
        response.headers["Retry-After"] = str(locked.retry_after)
        return response
    user = authenticate(session, username, form.get("password", "")[:1024])
    if user is None:
        limiter.record_failure(username, client, now)
        logger.warning("failed dashboard login from client %s", client)
        return _render(request, "login.html", status.HTTP_401_UNAUTHORIZED, title=translate(N_("Staff login"), language),
                       error=translate(N_("Username or password is not valid. Check them and try again."), language))
    limiter.record_success(username, client)
    token, _row = create_session(session, user, utc_datetime(now))
    response = _redirect("/dashboard")
    response.set_cookie(
        COOKIE_NAME, token, max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/dashboard",
    )
    return response


def _form_allowed(request: Request, form: dict[str, str]) -> bool:
    token = request.cookies.get(COOKIE_NAME, "")
    return bool(token) and hmac.compare_digest(form.get("csrf", ""), _csrf_value(token))


@router.post("/logout")
def log_out(request: Request, form: FormDep, session: SessionDep) -> Response:
    token = request.cookies.get(COOKIE_NAME)
    if token and _form_allowed(request, form):
        end_session(session, token)
    response = _redirect("/dashboard/login")
    response.delete_cookie(COOKIE_NAME, path="/dashboard")
    return response


def _overview_context(request: Request, caller: Caller, session, language: str) -> dict:
    scope = caller.programme_scope(session)
    now = request.app.state.settings.clock()
    programmes = queries.programme_totals(session, scope)
    no_data = translate(N_("No redemptions yet."), language)
    return {
        "title": translate(N_("Dashboard"), language),
        "scope_note": translate(N_("You see only the programmes of {opd}."), language, opd=caller.opd) if scope is not None else "",
        "programmes": programmes,
        "programme_chart": charts.horizontal_bars(
            translate(N_("Redemptions per programme"), language),
            [(row.name, row.redemptions) for row in programmes if row.redemptions], no_data),
        "kelurahan_chart": charts.horizontal_bars(
            translate(N_("Redemptions per kelurahan"), language), queries.kelurahan_totals(session, scope), no_data),
        "daily_chart": charts.column_chart(
            translate(N_("Redemptions per day"), language), queries.daily_totals(session, scope, now), no_data),
        "days_shown": queries.DAYS_SHOWN,
        "pending_hours": int(queries.PENDING_AFTER.total_seconds() // 3600),
        "pending": queries.pending_terminals(session, scope, utc_datetime(now)),
        "findings": queries.findings(session, scope),
        "finding_labels": {kind: translate(label, language) for kind, label in FINDING_LABELS.items()},
        "service_points": queries.service_points(session, scope),
        "can_write": caller.can_write,
    }


@router.get("", response_class=HTMLResponse)
def overview(request: Request, session: SessionDep) -> Response:
    caller = _cookie_caller(request, session)
    if caller is None:
        response = _redirect("/dashboard/login")
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, request.query_params["lang"], max_age=365 * 86400,
                                samesite="strict", httponly=True)
        return response
    context = _overview_context(request, caller, session, _language(request))
    if context["findings"]:
        # A finding names a card number or household, so showing it is a read of holder data.
        record_reads(session, request, caller, SUBJECT_FINDING, [finding.subject for finding in context["findings"]])
    return _render(request, "overview.html", caller=caller, **context)


@router.post("/service-points/{service_point_id}/enrolment-codes", response_class=HTMLResponse)
def new_enrolment_code(
    service_point_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    request: Request,
    form: FormDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    caller = _cookie_caller(request, session)
    if caller is None:
        return _redirect("/dashboard/login")
    if not _form_allowed(request, form):
        return _message(request, caller, status.HTTP_403_FORBIDDEN, N_("Request rejected"),
                        translate(N_("The form has expired. Open the dashboard again and retry."), _language(request)))
    if not caller.can_write:
        logger.warning("%s (role %s) was denied a new enrolment code", caller.actor, caller.role)
        return _message(request, caller, status.HTTP_403_FORBIDDEN, N_("Not permitted"),
                        translate(N_("Only an administrator can create enrolment codes."), _language(request)))
    try:
        created = create_enrolment_code(service_point_id, caller, session, settings)
    except HTTPException:
        return _message(request, caller, status.HTTP_404_NOT_FOUND, N_("Not found"),
                        translate(N_("Service point {id} does not exist."), _language(request), id=service_point_id))
    expires = created.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return _message(request, caller, status.HTTP_201_CREATED, N_("New enrolment code"),
                    translate(N_("Enter this code on the terminal once, before {expires}."), _language(request), expires=expires),
                    code=created.code)
