"""/docs, the API's interactive documentation (Swagger UI from the swagger-ui-bundle wheel,
served by this server), and HTML error pages in the page's frame for browsers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from http import HTTPStatus
from importlib.metadata import version
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gatecam.web import conditional
from gatecam.web.common import Archive, error_response, json_response, wants_json
from gatecam.web.headers import CONTENT_SECURITY_POLICY
from gatecam.web.openapi import SPEC
from gatecam.web.pages import View, page
from gatecam.web.render import MEDIA

# Swagger UI's stylesheet draws its icons as data: images; nothing else is loosened.
DOCS_POLICY = CONTENT_SECURITY_POLICY.replace("img-src 'self'", "img-src 'self' data:")
_FILES = ("swagger-ui.css", "swagger-ui-bundle.js")


@cache
def _swagger() -> tuple[Path, str]:
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return Path(swagger_ui_path), version("swagger-ui-bundle")


def downgraded(node: Any) -> Any:
    """The OpenAPI 3.1 document as 3.0 says it: the wheel's Swagger UI (4.x) reads no 3.1.

    Only what the spec uses differs: ``type: [X, "null"]``, ``const`` and schema
    ``examples`` lists.
    """
    if isinstance(node, list):
        return [downgraded(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: downgraded(value) for key, value in node.items()}
    kinds = out.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        rest = [kind for kind in kinds if kind != "null"]
        out["type"], out["nullable"] = (rest[0] if len(rest) == 1 else rest), True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("examples"), list):
        out["example"] = out.pop("examples")[0]
    if str(out.get("openapi", "")).startswith("3.1"):
        out["openapi"] = "3.0.3"
    return out


def docs_spec(archive: Archive, request: Request) -> Response:
    return json_response(downgraded(SPEC))


def swagger_file(archive: Archive, request: Request) -> Response:
    name = request.path_params["name"]
    if name not in _FILES:
        raise HTTPException(404)
    folder, release = _swagger()
    etag = f'"swagger-{release}"'
    cached = conditional.not_modified(request, etag, None)
    if cached is not None:
        return cached
    media = MEDIA["." + name.rsplit(".", 1)[1]]
    headers = {"ETag": etag, "Cache-Control": conditional.IMMUTABLE}
    return Response((folder / name).read_bytes(), media_type=media, headers=headers)


def docs_page(view: View) -> Response:
    release = _swagger()[1]
    files = {name.rsplit(".", 1)[1]: f"/static/swagger/{name}?v={release}" for name in _FILES}
    html = page("docs.html", "API", view, swagger=files)
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_POLICY})


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, nor a client taking any type)."""
    return not wants_json(request.url.path) and "text/html" in request.headers.get("accept", "")


def error_page(view: View, status: int, message: str) -> Response:
    title = f"{status} {HTTPStatus(status).phrase}"
    return HTMLResponse(page("error.html", title, view, message=message), status_code=status)


def error(
    view: View | None,
    request: Request,
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The error in the page's frame for a browser; one line (or JSON) for everyone else."""
    if view is None or not wants_html(request):
        return error_response(request.url.path, status, message, headers)
    response = error_page(view, status, message)
    response.headers.update(headers or {})
    return response
