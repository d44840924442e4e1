"""Requests from inside the server to itself, answered in the calling thread.

Step Functions tasks and pipeline steps run in the server process and call its services with
boto3, signed as their role. Over HTTP each call cost a TCP connection (werkzeug's server
closes every one), a new server thread, and the request line and headers written and parsed
again. `attach(client)` registers a botocore `before-send` handler (the event moto's own
`mock_aws` answers through) that hands the signed request to the server's WSGI application
in the calling thread instead, with the environ werkzeug's server would have built. The
whole application runs as for a request from outside: the persistence middleware, the
signature check and IAM authorization under the signing role, moto's dispatch.

Until the server's `create_app` calls `install` (in any other process: a job worker, a
client) `attach` leaves the client on HTTP.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

LOG = logging.getLogger(__name__)
_app: Callable | None = None
_port: int | None = None  # the server's own port
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
# Answers read here whole, in memory: those whose body may be an object of any size stay on HTTP.
STREAMED = (".GetObject",)


def install(app: Callable, port: int) -> None:
    """Answer requests to this server's port with `app` (the server's full WSGI stack)."""
    global _app, _port
    _app, _port = app, port


def attach(client: Any) -> Any:
    """Send `client`'s requests to this server through the application in-process (when this
    is the server process and the client's endpoint is this server); returns the client."""
    if _app is not None:
        client.meta.events.register("before-send", _send)
    return client


class _Body(io.BytesIO):
    """A response body as botocore reads one from urllib3."""

    def stream(self, amt: int = 1024 * 1024, decode_content: bool = False):
        while chunk := self.read(amt):
            yield chunk


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return body.read()  # a file-like body (streaming input)


def _environ(request: AWSPreparedRequest, url: SplitResult, body: bytes) -> dict[str, Any]:
    raw_path = url.path or "/"
    raw_uri = raw_path + (f"?{url.query}" if url.query else "")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        # PEP 3333: the decoded path as latin-1 text (werkzeug's server does the same)
        "PATH_INFO": unquote(raw_path, "latin-1"),
        "QUERY_STRING": url.query,
        "REQUEST_URI": raw_uri,
        "RAW_URI": raw_uri,
        "SERVER_NAME": url.hostname or "127.0.0.1",
        "SERVER_PORT": str(url.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in request.headers.items():
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = value
    environ.setdefault("HTTP_HOST", url.netloc)
    return environ


def _send(request: AWSPreparedRequest, event_name: str = "", **_: Any) -> AWSResponse | None:
    app = _app
    url = urlsplit(request.url)
    if app is None or url.port != _port or url.hostname not in _LOOPBACK_HOSTS:
        return None  # not this server (an endpoint_url elsewhere): over HTTP as asked
    if event_name.endswith(STREAMED):
        return None  # a body of any size, streamed to the caller: over HTTP
    body = _body_bytes(request.body)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
        answer["status"], answer["headers"] = status, headers
        return lambda data: chunks.append(data)  # the legacy write() callable

    chunks: list[bytes] = []
    try:
        result: Iterable[bytes] = app(_environ(request, url, body), start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception:  # noqa: BLE001 - what werkzeug's server answers an application error with
        LOG.exception("error on %s %s", request.method, request.url)
        return AWSResponse(request.url, 500, {}, _Body(b""))  # botocore: a generic 500
    status = int(answer["status"].split(" ", 1)[0])
    payload = b"".join(chunks)
    if request.method == "HEAD":
        payload = b""
    return AWSResponse(request.url, status, answer["headers"], _Body(payload))
