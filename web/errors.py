"""Errors as responses: one JSON shape for the API and exports, a readable page for the browser.

Every error a client can cause becomes a 4xx with a message naming what was wrong; nothing ever
answers with a traceback.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from search.errors import (
    DocumentNotFound,
    IndexLocked,
    IndexUnavailable,
    InvalidParameter,
    SearchError,
    StorageFull,
)

# The library's errors and the HTTP status each one means; the first matching class wins.
SEARCH_ERROR_STATUS = (
    (InvalidParameter, 400),
    (DocumentNotFound, 404),
    (IndexLocked, 409),
    (StorageFull, 507),
    (IndexUnavailable, 503),
    (SearchError, 500),
)

# Messages for errors werkzeug raises itself (routing, body size), in the user's terms.
HTTP_MESSAGES = {
    400: "the request could not be understood",
    404: "nothing is served at {path}; see /api/openapi.json for the API",
    405: "{method} is not allowed on {path}",
    413: "the request body is larger than {limit} bytes",
    429: "too many requests; try again later",
    500: "an unexpected error occurred on the server; it has been logged",
    503: "the service is unavailable; try again later",
}

# Headings of the HTML error page.
PAGE_TITLES = {
    400: "参数有误",
    401: "需要授权",
    403: "禁止访问",
    404: "未找到",
    405: "不支持的请求方法",
    409: "冲突",
    413: "请求内容过大",
    429: "请求过于频繁",
    500: "服务器内部错误",
    503: "服务暂不可用",
}


def error_body(status: int, message: str, parameter: str | None = None) -> dict:
    """The one shape of every JSON error: `{"error": {"status", "parameter", "message"}}`."""
    return {"error": {"status": status, "parameter": parameter, "message": message}}


def wants_json() -> bool:
    """API calls and exports get JSON errors; pages get an HTML page."""
    path = request.path
    return path.startswith("/api/") or path == "/api" or path.endswith((".json", ".csv", ".atom"))


def error_response(
    status: int,
    message: str,
    parameter: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_json():
        response = jsonify(error_body(status, message, parameter))
    else:
        page = render_template(
            "error.html",
            status=status,
            title=PAGE_TITLES.get(status, "出错了"),
            message=message,
        )
        response = Response(page, mimetype="text/html")
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def status_of(error: SearchError) -> int:
    return next(status for kind, status in SEARCH_ERROR_STATUS if isinstance(error, kind))


def handle_search_error(error: SearchError) -> Response:
    parameter = error.parameter if isinstance(error, InvalidParameter) else None
    return error_response(status_of(error), str(error), parameter)


def handle_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if isinstance(error, InternalServerError):
        # the original exception is logged by Flask; its text may reveal internals, so not shown
        message = HTTP_MESSAGES[500]
    elif error.description and error.description != type(error).description:
        message = error.description  # ours: already says what was wrong
    else:
        message = HTTP_MESSAGES.get(status, error.name.lower()).format(
            path=request.path,
            method=request.method,
            limit=request.max_content_length,
        )
    headers = {name: value for name, value in error.get_headers() if name != "Content-Type"}
    return error_response(status, message, headers=headers)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(SearchError, handle_search_error)
    # the statuses the issue names, and any other HTTP error (401, 403, 409 raised by our views)
    for status in (400, 404, 405, 413, 429, 500, 503):
        app.register_error_handler(status, handle_http_error)
    app.register_error_handler(HTTPException, handle_http_error)
