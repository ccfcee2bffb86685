"""Who may use the review app, and protection of its writes.

* Bound to a loopback address the app is open (one person's machine); any other address needs
  ``API_KEY``, and then every request must carry it: ``Authorization: Bearer <key>`` (scripts) or
  HTTP basic auth with the key as password (browsers prompt for it; the user name becomes the
  reviewer's name).
* State changes are POSTs that must carry the page's CSRF token in the ``X-CSRF-Token`` header
  (a custom header a cross-site form cannot send, and a value a cross-site page cannot read), and
  whose ``Origin``, when the browser sends one, is the app's own.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse

from pipeline.service_guard import authorized

LOOPBACK_NAMES = {"localhost"}
PUBLIC_PREFIXES = ("/static/",)
CSRF_HEADER = "x-csrf-token"


class UnsafeBind(ValueError):
    """A non-loopback address without an API key."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    if not is_loopback(host) and not api_key:
        raise UnsafeBind(
            f"binding {host} exposes the review app beyond this machine: set API_KEY (browsers then log in"
            " with any user name and the key as password), or bind 127.0.0.1"
        )


def basic_user(api_key: str, header: str | None) -> str | None:
    """The user name of ``Basic base64(user:key)`` when the password is the key, else None."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user if hmac.compare_digest(password.encode(), api_key.encode()) else None


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(headers: Headers, token: str, host_url: str) -> bool:
    """The POST carries the token, and comes from this app's origin when the browser says."""
    origin = headers.get("origin")
    if origin is not None and origin.rstrip("/") != host_url.rstrip("/"):
        return False
    return hmac.compare_digest(headers.get(CSRF_HEADER, "").encode(), token.encode())


class AuthGuard:
    """Pure ASGI middleware: with an API key every request but static files must present it;
    the basic-auth user name is put in ``scope["state"]["reviewer"]``."""

    def __init__(self, app: Any, *, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
        if scope["type"] != "http" or self.api_key is None or scope["path"].startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        user = basic_user(self.api_key, header)
        if user is None and not (header and header.lower().startswith("bearer") and authorized(self.api_key, header)):
            challenge = {"WWW-Authenticate": 'Basic realm="pipeline review", charset="UTF-8"'}
            await PlainTextResponse("API key required", status_code=401, headers=challenge)(scope, receive, send)
            return
        if user:
            scope.setdefault("state", {})["reviewer"] = user
        await self.app(scope, receive, send)
