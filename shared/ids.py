"""Path ids, and the one rule for paths that name nothing.

Every resource id is a UUID. A path segment in an id's place that is not one (say
``/api/expenses/export.pdf``) names no route and no resource: it is answered 404 "no such
route", the same as any unknown path, never read as an id ("no expense export.pdf") nor refused
as bad input (422). A well-formed id that does not exist, or is someone else's, is 404 "no
<thing> <id>".
"""

from __future__ import annotations

import re

from fastapi import Request

from shared.errors import NotFoundError

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def no_such_route(path: str) -> NotFoundError:
    return NotFoundError(f"no such route: {path}")


def uuid_or_no_route(value: str, request: Request) -> str:
    """``value`` (a path parameter) if it is a UUID, lower-case as we issue them."""
    if not _UUID.match(value):
        raise no_such_route(request.url.path)
    return value
