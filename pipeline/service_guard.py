"""What ``pipeline serve`` checks before any route runs: the API key and the body size.

* Authentication comes first, from the headers alone: an unauthenticated request never has its
  body read or validated. ``Authorization: Bearer <key>`` (scheme case-insensitive); a 401
  carries ``WWW-Authenticate: Bearer``.
* The body limit is enforced while the body is read, chunk by chunk, so a chunked upload
  without Content-Length is cut off at the limit instead of being read whole and parsed.
* :class:`RedactKeys` keeps ``?api_key=...`` (WebSocket clients that cannot set headers) out of
  uvicorn's access and error logs.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]
PROTECTED_PREFIXES = ("/v1/", "/api/")
AUTH_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pipeline"'}


def authorized(api_key: str | None, header: str | None) -> bool:
    """True without a configured key, or when ``header`` is ``Bearer <key>`` (any case of the
    scheme, compared in constant time)."""
    if api_key is None:
        return True
    scheme, _, token = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


def error_body(message: str, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "code": code}}


def unauthorized_response() -> JSONResponse:
    body = error_body("missing or invalid API key (Authorization: Bearer <key>)", "unauthorized")
    return JSONResponse(body, status_code=401, headers=AUTH_CHALLENGE)


class RequestGuard:
    """Pure ASGI middleware (it must see the raw ``receive`` to count body bytes)."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body: int, max_input_chars: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body = max_body
        self.too_large = f"request body too large (input is limited to {max_input_chars} chars)"

    def _limit(self, scope: Scope) -> tuple[int, str]:
        """(byte limit, message) for the request's path: a route with larger bodies (audio
        uploads) registers its own in ``app.state.body_limits`` ({path prefix: (bytes, message)})."""
        app = scope.get("app")
        limits: Mapping[str, tuple[int, str]] = getattr(getattr(app, "state", None), "body_limits", None) or {}
        for prefix, limit in limits.items():
            if scope["path"].startswith(prefix):
                return limit
        return self.max_body, self.too_large

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[dict]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["path"].startswith(PROTECTED_PREFIXES) and not authorized(self.api_key, headers.get("authorization")):
            await unauthorized_response()(scope, receive, send)
            return
        max_body, too_large = self._limit(scope)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            await JSONResponse(error_body(too_large, "too_large"), status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_body:
                    raise HTTPException(413, too_large)
            return message

        await self.app(scope, limited_receive, send)


_KEY_IN_URL = re.compile(r"(api_key=)[^&\s\"']*", re.IGNORECASE)


class RedactKeys(logging.Filter):
    """Replace the value of any ``api_key=`` in a log record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "api_key=" in record.msg.lower():
            record.msg = _KEY_IN_URL.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_KEY_IN_URL.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


def install_log_redaction(names: tuple[str, ...] = ("uvicorn.access", "uvicorn.error", "uvicorn")) -> None:
    """Idempotent: add :class:`RedactKeys` to uvicorn's loggers (call after uvicorn configured
    logging, e.g. in the app's lifespan)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())
