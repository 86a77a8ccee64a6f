"""The console's shell in headless Chromium: layout, CSRF, escaping, remote mode, headers, errors, and where it may listen."""

from __future__ import annotations

import http.client
import re
from urllib.parse import quote, urlsplit

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facepipe_tools.cli import main
from facepipe_tools.console import ConsoleRefused, check_bind, confirm, create_app, message, serve
from facepipe_tools.console.security import MAX_BODY_BYTES

pytest_plugins = ["browser"]  # chromium, context, page, serve_console

TOKEN = "a-remote-access-token-for-tests"
SCRIPT = "<script>alert(1)</script>"
HEADERS = {"x-frame-options": "DENY", "referrer-policy": "no-referrer", "x-content-type-options": "nosniff"}


class NoBackend:
    """The shell calls nothing on its backend."""


def shell_app(calls: list[dict[str, str]], *, token: str | None = None):
    """The shell with three test-only routes: a confirmation page, the POST it sends (recorded in ``calls``), a crash."""

    async def ask(request: Request) -> Response:
        q = request.query_params
        return confirm(
            request,
            title="Merge people",
            text=q.get("text", "Merge a into b?"),
            action="/test/merge",
            fields={"source": q.get("source", "a"), "target": "b"},
            button="Merge",
        )

    async def merge(request: Request) -> Response:
        form = await request.form()
        calls.append({k: v for k, v in form.items() if isinstance(v, str)})
        return message(request, 200, f"merged {form['source']} into {form['target']}", title="Merged")

    async def crash(request: Request) -> Response:
        raise RuntimeError("internal detail that must not reach the page")

    routes = [Route("/test/confirm", ask), Route("/test/merge", merge, methods=["POST"]), Route("/test/crash", crash)]
    return create_app(NoBackend(), token=token, routes=routes)


def csrf_token_of(page) -> str:
    return page.locator('meta[name="csrf-token"]').get_attribute("content")


# --- the layout ---------------------------------------------------------------------------


def test_console_shell_page_loads_with_navigation(page, serve_console):
    url = serve_console(shell_app([]))

    response = page.goto(f"{url}/test/confirm")

    assert response.status == 200
    assert page.title() == "Merge people · facepipe console"
    nav = page.get_by_role("navigation", name="Sections")
    assert nav.get_by_role("link").all_text_contents() == ["People", "Review", "Activity"]
    assert page.locator(".bar").evaluate("e => getComputedStyle(e).display") == "flex"  # the stylesheet loaded under the CSP


def test_console_shell_home_leads_to_people_and_marks_the_section(page, serve_console):
    url = serve_console(shell_app([]))

    response = page.goto(f"{url}/")

    assert urlsplit(page.url).path == "/people"
    assert response.status == 404  # no People page yet: the layout's error page
    assert page.get_by_role("heading").text_content() == "Not Found"
    assert page.locator('nav a[aria-current="page"]').all_text_contents() == ["People"]


# --- CSRF ---------------------------------------------------------------------------------


def test_console_shell_form_post_with_the_token_runs_the_handler(page, serve_console):
    calls: list[dict[str, str]] = []
    url = serve_console(shell_app(calls))
    page.goto(f"{url}/test/confirm")

    page.get_by_role("button", name="Merge").click()

    page.wait_for_url(f"{url}/test/merge")
    assert page.locator("main").text_content().count("merged a into b") == 1
    assert len(calls) == 1
    assert calls[0]["source"] == "a"
    assert calls[0]["csrf_token"] == csrf_token_of(page)


def test_console_shell_post_without_the_token_is_refused_and_the_handler_does_not_run(page, serve_console):
    calls: list[dict[str, str]] = []
    url = serve_console(shell_app(calls))
    page.goto(f"{url}/test/confirm")  # the browser holds the CSRF cookie

    missing = page.request.post(f"{url}/test/merge", form={"source": "a", "target": "b"})
    wrong = page.request.post(f"{url}/test/merge", form={"source": "a", "target": "b", "csrf_token": "0" * 64})
    in_page = page.evaluate(
        "async url => (await fetch(url, {method: 'POST', body: new URLSearchParams({source: 'a', target: 'b'})})).status",
        f"{url}/test/merge",
    )

    assert missing.status == 403
    assert "security token" in missing.text()
    assert wrong.status == 403
    assert in_page == 403
    assert calls == []


def test_console_shell_token_in_the_header_or_a_multipart_form_runs_the_handler(page, serve_console):
    calls: list[dict[str, str]] = []
    url = serve_console(shell_app(calls))
    page.goto(f"{url}/test/confirm")

    fetched = page.evaluate(
        """async url => (await fetch(url, {
            method: 'POST',
            headers: {'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content},
            body: new URLSearchParams({source: 'fetch', target: 'b'}),
        })).status""",
        f"{url}/test/merge",
    )
    multipart = page.request.post(f"{url}/test/merge", multipart={"source": "multipart", "target": "b", "csrf_token": csrf_token_of(page)})

    assert fetched == 200
    assert multipart.status == 200
    assert [c["source"] for c in calls] == ["fetch", "multipart"]


def test_console_shell_token_belongs_to_its_cookie_and_its_process(chromium, page, serve_console):
    calls: list[dict[str, str]] = []
    url = serve_console(shell_app(calls))
    restarted = serve_console(shell_app(calls))  # another process's secret, same cookies (cookies ignore ports)
    page.goto(f"{url}/test/confirm")
    token = csrf_token_of(page)
    cookie = next(c for c in page.context.cookies() if c["name"] == "facepipe_csrf")

    other = chromium.new_context()
    try:
        elsewhere = other.request.post(f"{url}/test/merge", form={"source": "a", "target": "b", "csrf_token": token})
    finally:
        other.close()
    stale = page.request.post(f"{restarted}/test/merge", form={"source": "a", "target": "b", "csrf_token": token})

    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert elsewhere.status == 403  # the token without the cookie it was made for
    assert stale.status == 403
    assert calls == []


# --- escaping -----------------------------------------------------------------------------


def test_console_shell_renders_markup_in_values_as_text(page, serve_console):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    url = serve_console(shell_app([]))
    attribute = '"><script>alert(2)</script>'

    page.goto(f"{url}/test/confirm?text={quote(SCRIPT)}&source={quote(attribute)}")
    shown = page.locator("main").text_content()
    hidden = page.locator('input[name="source"]').get_attribute("value")
    page.goto(f"{url}/people/{SCRIPT}")  # a path the 404 page repeats
    not_found = page.locator("main").text_content()
    scripts = page.locator("script").count()

    assert SCRIPT in shown
    assert hidden == attribute
    assert f"/people/{SCRIPT}" in not_found
    assert scripts == 0
    assert dialogs == []


# --- remote mode --------------------------------------------------------------------------


def test_console_shell_remote_mode_needs_the_access_token(page, serve_console):
    url = serve_console(shell_app([], token=TOKEN))

    refused = page.goto(f"{url}/health")
    assert refused.status == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    page.get_by_label("Access token").fill(TOKEN)
    page.get_by_role("button", name="Open the console").click()
    page.wait_for_url(f"{url}/health")
    again = page.goto(f"{url}/health")  # the cookie stands for the token from now on

    assert again.status == 200
    assert again.json() == {"ok": True}
    assert "token=" not in page.url
    access = next(c for c in page.context.cookies() if c["name"] == "facepipe_access")
    assert access["httpOnly"] is True
    assert TOKEN not in access["value"]


def test_console_shell_remote_mode_accepts_a_bearer_token_or_the_query_once(context, serve_console):
    url = serve_console(shell_app([], token=TOKEN))

    nothing = context.request.get(f"{url}/health")
    wrong = context.request.get(f"{url}/health", headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
    bearer = context.request.get(f"{url}/health", headers={"Authorization": f"Bearer {TOKEN}"})
    query = context.request.get(f"{url}/health?token={TOKEN}", max_redirects=0)

    assert (nothing.status, wrong.status, bearer.status) == (401, 401, 200)
    assert query.status == 303
    assert query.headers["location"] == "/health"


# --- headers and errors -------------------------------------------------------------------


def test_console_shell_security_headers_on_every_response(page, serve_console):
    url = serve_console(shell_app([]))
    remote = serve_console(shell_app([], token=TOKEN))
    page.goto(f"{url}/test/confirm")

    responses = {
        "page": page.request.get(f"{url}/test/confirm"),
        "health": page.request.get(f"{url}/health"),
        "stylesheet": page.request.get(f"{url}/static/console.css"),
        "not found": page.request.get(f"{url}/nowhere"),
        "csrf refused": page.request.post(f"{url}/test/merge", form={"source": "a"}),
        "crash": page.request.get(f"{url}/test/crash"),
        "no access token": page.request.get(f"{remote}/health"),
    }

    statuses = {name: r.status for name, r in responses.items()}
    assert statuses == {
        "page": 200,
        "health": 200,
        "stylesheet": 200,
        "not found": 404,
        "csrf refused": 403,
        "crash": 500,
        "no access token": 401,
    }
    nonces = set()
    for name, response in responses.items():
        headers = response.headers
        assert {k: headers.get(k) for k in HEADERS} == HEADERS, name
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy, name
        assert "frame-ancestors 'none'" in policy, name
        nonces.update(re.findall(r"'nonce-([^']+)'", policy))
    assert len(nonces) == len(responses)  # a fresh nonce per response


def test_console_shell_error_page_shows_no_stack_trace(page, serve_console):
    url = serve_console(shell_app([]))

    response = page.goto(f"{url}/test/crash")

    assert response.status == 500
    text = page.locator("body").text_content()
    assert "Something went wrong" in text
    assert "internal detail" not in text
    assert "Traceback" not in text
    assert page.get_by_role("navigation", name="Sections").is_visible()


def raw_request(url: str, method: str, path: str, headers: dict[str, str]) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host="Host" in headers)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def test_console_shell_loopback_mode_refuses_foreign_host_names(serve_console):
    url = serve_console(shell_app([]))

    rebound = raw_request(url, "GET", "/health", {"Host": "attacker.example:8400"})
    localhost = raw_request(url, "GET", "/health", {"Host": "localhost:8400"})
    ipv6 = raw_request(url, "GET", "/health", {"Host": "[::1]:8400"})

    assert (rebound, localhost, ipv6) == (400, 200, 200)


def test_console_shell_refuses_a_body_over_the_limit(serve_console):
    url = serve_console(shell_app([]))

    status = raw_request(
        url, "POST", "/test/merge", {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(MAX_BODY_BYTES + 1)}
    )

    assert status == 413


# --- where it may listen ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allow_remote", "token"),
    [("0.0.0.0", False, None), ("0.0.0.0", True, None), ("0.0.0.0", False, TOKEN), ("192.168.1.20", True, "short"), ("::", False, None)],
)
def test_serve_refuses_beyond_loopback_without_allow_remote_and_a_token(host, allow_remote, token):
    with pytest.raises(ConsoleRefused, match=r"--allow-remote|at least 16 characters"):
        serve(host, 0, NoBackend(), allow_remote=allow_remote, token=token)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_serve_allows_loopback_and_remote_with_a_token(host):
    check_bind(host)
    check_bind("0.0.0.0", allow_remote=True, token=TOKEN)


def test_create_app_refuses_a_short_token():
    with pytest.raises(ConsoleRefused, match="at least 16 characters"):
        create_app(NoBackend(), token="too-short")


def test_cli_console_exits_2_beyond_loopback(capsys, monkeypatch):
    monkeypatch.delenv("FACEPIPE_CONSOLE_TOKEN", raising=False)

    status = main(["console", "--host", "0.0.0.0", "--port", "0"])

    assert status == 2
    err = capsys.readouterr().err
    assert "refusing to serve the console on 0.0.0.0: it is not a loopback address" in err
    assert "--allow-remote" in err
