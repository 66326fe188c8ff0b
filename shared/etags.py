"""Optimistic concurrency: a resource's ``version`` is its entity tag.

Responses carry ``ETag: "<version>"``; a PUT, PATCH or DELETE with ``If-Match`` goes ahead only
if the resource's current version is among the tags sent (``*``: any version), checked inside
the write's own transaction, and is otherwise refused with 412 and the current version.
Weak tags (``W/"3"``) never match, as RFC 9110 requires for If-Match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header

from shared.errors import DomainError

# The If-Match header as routes declare it, and the 412 they document.
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=1024,
        description='The ETag you read ("3"): the change is refused with 412 if it has '
        "changed since",
    ),
]
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: {"description": "If-Match does not name the current version"}
}


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True)
class IfMatch:
    any_version: bool
    versions: frozenset[int]
    sent: str

    @classmethod
    def parse(cls, header: str | None) -> IfMatch | None:
        if header is None:
            return None
        tags = [tag.strip() for tag in header.split(",") if tag.strip()]
        versions = {
            int(tag[1:-1])
            for tag in tags
            if len(tag) > 2
            and tag[0] == tag[-1] == '"'
            and tag[1:-1].isascii()
            and tag[1:-1].isdigit()
        }
        return cls(any_version="*" in tags, versions=frozenset(versions), sent=header)

    def check(self, version: int) -> None:
        if not self.any_version and version not in self.versions:
            raise PreconditionFailedError(version, self.sent)


class PreconditionFailedError(DomainError):
    """The resource changed since the client read it: 412, with its current ETag (the app
    factory answers it like any domain error, so routes need not catch it)."""

    status = 412

    def __init__(self, current: int, sent: str) -> None:
        super().__init__(
            f"it has changed since you read it: its version is now {current} (ETag "
            f"{etag(current)}), and If-Match was {sent}; read it again and retry",
            headers={"ETag": etag(current)},
        )
        self.current = current
