"""Remote mode's wall (``AccessGate``): every request presents the console's access token."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from facepipe_tools.console.keys import ACCESS_COOKIE, ACCESS_QUERY, Keys, cookie
from facepipe_tools.console.security import Refuse

__all__ = ["AccessGate"]


class AccessGate:
    """Remote mode: every request presents the access token (query once, bearer header, or the cookie)."""

    def __init__(self, app: ASGIApp, keys: Keys, refuse: Refuse) -> None:
        if keys.access_token is None:
            raise ValueError("AccessGate needs an access token")
        self.app = app
        self.keys = keys
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        in_query = request.query_params.get(ACCESS_QUERY)
        if in_query is not None and self.keys.access_matches(in_query):
            if request.method in ("GET", "HEAD"):  # keep the token out of the address bar and history
                clean = request.url.remove_query_params(ACCESS_QUERY)
                location = quote("/" + clean.path.lstrip("/")) + (f"?{clean.query}" if clean.query else "")  # never //elsewhere
                response: Response = RedirectResponse(location, status_code=303)
                response.headers.append("set-cookie", cookie(ACCESS_COOKIE, self.keys.access_cookie()))
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if (scheme.lower() == "bearer" and self.keys.access_matches(credentials.strip())) or self.keys.access_cookie_matches(
            request.cookies.get(ACCESS_COOKIE, "")
        ):
            await self.app(scope, receive, send)
            return
        text = "This console needs its access token: enter it below (or open the console with ?token=… once)."
        await self.refuse(request, 401, text, headers={"WWW-Authenticate": 'Bearer realm="facepipe console"'})(scope, receive, send)
