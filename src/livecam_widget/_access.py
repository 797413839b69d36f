"""Who may open a stream: the route, the token and the page's origin; shared by both listeners.

Pure functions over request parts (path, headers), so the WebSocket handshake (``_server.py``) and the HTTP
viewers (``_http.py``) apply the same rules and neither needs the other. Which origins are allowed is
``_origin.OriginPolicy``'s business; this module adds the cases a policy cannot know (our own page, a
handshake forwarded by the page's own server, as jupyter-server-proxy does).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qs, urlsplit

from ._origin import OriginPolicy
from ._protocol import PATH_PREFIX, SUBPROTOCOL, TOKEN_SUBPROTOCOL


def stream_route(path: str) -> tuple[str, str] | None:
    """``/livecam/v1/<id>[/<leaf>][?query]`` -> (id, leaf); None for any other path."""
    route = urlsplit(path).path
    if not route.startswith(PATH_PREFIX):
        return None
    stream_id, _, leaf = route[len(PATH_PREFIX) :].partition("/")
    return stream_id, leaf


def query_token(path: str) -> str:
    return parse_qs(urlsplit(path).query).get("token", [""])[0]


def offered_token(path: str, subprotocol_headers: Iterable[str]) -> str:
    """The token, from a ``livecam.token.<T>`` subprotocol (what the frontend sends: it stays out of URLs
    and so out of proxy logs) or from the ``token`` query parameter (simplest for other clients)."""
    for value in subprotocol_headers:
        for offered in value.split(","):
            offered = offered.strip()
            if offered.startswith(TOKEN_SUBPROTOCOL):
                return offered[len(TOKEN_SUBPROTOCOL) :]
    return query_token(path)


def token_matches(offered: str, token: str) -> bool:
    """Constant-time comparison, so the time taken says nothing about how much of a guess was right."""
    return hmac.compare_digest(offered.encode(), token.encode())


def chosen_subprotocol(offered: Sequence[str]) -> str | None:
    """A browser that offered subprotocols needs one echoed back; clients that offered none get none."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def forwarded_by_the_pages_server(origin: str | None, host_header: str, own_port: int) -> bool:
    """A handshake that the page's own server passed on to us: the Origin is the very address in Host, and
    that address is not this listener's port, so the browser spoke to another server, which forwarded the
    request with its headers. That is what jupyter-server-proxy does (under JupyterHub the page's origin is
    the hub's public address, which no runtime file on this machine names), and it forwards only after
    Jupyter checked the user's login and that same Origin against that same Host. A page that connects to
    this listener itself sends this listener's port in Host, and is judged by the policy alone."""
    if origin is None:
        return False
    page, host = urlsplit(origin), urlsplit("//" + host_header)
    default = {"http": 80, "https": 443}.get(page.scheme)
    try:
        page_port, host_port = page.port or default, host.port or default
    except ValueError:  # a port out of range
        return False
    return (
        page.hostname is not None
        and page.hostname == host.hostname
        and page_port is not None
        and page_port == host_port
        and host_port != own_port
    )


def is_own_page(origin: str | None, host_header: str, http_port: int | None) -> bool:
    """A page served by our HTTP listener: same host as this request, the listener's port."""
    if origin is None or http_port is None:
        return False
    page, host = urlsplit(origin), urlsplit("//" + host_header)
    return page.hostname is not None and page.hostname == host.hostname and page.port == http_port


def origin_allowed(
    policy: OriginPolicy, origin: str | None, host_header: str, http_port: int | None, own_port: int
) -> bool:
    return (
        policy.allows(origin)
        or is_own_page(origin, host_header, http_port)
        or forwarded_by_the_pages_server(origin, host_header, own_port)
    )
