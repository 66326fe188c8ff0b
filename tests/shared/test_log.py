"""The services' log lines: one JSON object each, libraries' chatter left out."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from shared.log import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    handlers, level, access_disabled = root.handlers[:], root.level, access.disabled
    quieted = ("fontTools", "aio_pika", "aiormq")
    levels = {name: logging.getLogger(name).level for name in quieted}
    yield
    root.handlers[:], root.level, access.disabled = handlers, level, access_disabled
    for name, kept in levels.items():
        logging.getLogger(name).setLevel(kept)


def test_service_lines_are_json_and_font_subsetting_is_left_out(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("analytics_service")
    logging.getLogger("fontTools.subset").info("maxp pruned")  # fpdf2, for every statement
    logging.getLogger("analytics_service.pdf_report").info("statement drawn")
    logging.getLogger("fontTools.ttLib").warning("a font that could not be read")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("analytics_service.pdf_report", "statement drawn"),
        ("fontTools.ttLib", "a font that could not be read"),
    ]
    assert {line["service"] for line in lines} == {"analytics_service"}
