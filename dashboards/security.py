"""What the dashboard's server accepts, set once on the app by :func:`dashboards.app.create_app`.

* **Host names.** Binding to 127.0.0.1 does not stop a web page whose own name an attacker
  rebinds to 127.0.0.1 (DNS rebinding): the browser then sends it our pages and callback data.
  Its requests carry the attacker's name in ``Host``, so only loopback names (``localhost``,
  any ``127.x.x.x``, ``[::1]``) and the ``--host`` the user gave are answered; anything else
  gets 403, on every route (WSGI middleware, so nothing in Flask or Dash runs first).
* **Request size.** Bodies above :func:`request_limit` get 413 (Flask's ``MAX_CONTENT_LENGTH``;
  waitress is given the same limit).
* **Bad callback input** (an ``InputError`` from a callback's checks) is a one-line 400, not a 500.
"""

from __future__ import annotations

import ipaddress
import re

#: Bytes a selection event may take per drawn point, and per row index of a stored selection, to
#: size requests. plotly sends each selected point with its index, coordinates, id, text and
#: colour: 180 bytes in Chromium with 4-digit ids and 7-letter labels, so 512 leaves room for
#: long ids and labels. A row index takes at most 8 digits and a comma up to 10M rows.
POINT_BYTES = 512
ROW_BYTES = 12
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(:\d{1,5})?")


def host_name(header: str | None) -> str | None:
    """The name in a ``Host`` header, lower-case and without its port; None when it is malformed."""
    match = _HOST.fullmatch((header or "").strip().lower())
    return match.group(1) if match else None


def normal_host(host: str) -> str:
    """A ``--host`` value as a ``Host`` header names it: lower-case, an IPv6 address in brackets."""
    host = host.strip().lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def is_loopback(name: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``[::1]``)."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_host(header: str | None, extra=()) -> bool:
    """Whether a request whose ``Host`` header is ``header`` is answered: a loopback name or one of ``extra``."""
    name = host_name(header)
    return name is not None and (is_loopback(name) or name in {normal_host(h) for h in extra})


def request_limit(store) -> int:
    """Largest request body the server reads: one selection event from every run's drawn points
    plus one stored selection of every row of the largest run, and a megabyte for the rest."""
    return (
        2**20
        + sum(POINT_BYTES * min(data.budget, data.n) for data in store)
        + ROW_BYTES * max(data.n for data in store)
    )


def protect(app, *, hosts=(), max_bytes: int) -> None:
    """Refuse foreign ``Host`` headers (403), bodies over ``max_bytes`` (413) and bad callback input (400)."""
    from latentviz.errors import InputError

    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = max_bytes
    inner = server.wsgi_app
    allowed = tuple(hosts)

    def only_known_hosts(environ, start_response):
        if allowed_host(environ.get("HTTP_HOST"), allowed):
            return inner(environ, start_response)
        body = (
            f"latentviz: refused a request for host {environ.get('HTTP_HOST', '')[:80]!r}; open the dashboard "
            "as localhost or 127.0.0.1 (or start it with --host NAME)\n"
        ).encode()
        start_response(
            "403 Forbidden", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [body]

    server.wsgi_app = only_known_hosts

    @server.errorhandler(InputError)
    def bad_input(error):
        return f"latentviz: {error}\n", 400, {"Content-Type": "text/plain; charset=utf-8"}
