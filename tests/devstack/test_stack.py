"""devstack.stack: the stack is ready when the gateway says so, and only the gateway (a small
HTTP server on a free port of 127.0.0.1 stands in for whoever answers on the gateway's port)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack.stack import SERVICES, Stack


def answering_ready(checks: object) -> Iterator[int]:
    body = json.dumps({"status": "ready", "checks": checks}).encode()

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/ready" else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def gateway_port() -> Iterator[int]:
    yield from answering_ready(dict.fromkeys(("mongo", "rabbitmq", *SERVICES), True))


@pytest.fixture
def service_port() -> Iterator[int]:
    yield from answering_ready({"mongo": True, "rabbitmq": True})


def test_the_gateways_checks_are_the_stacks_readiness(tmp_path: Path, gateway_port: int) -> None:
    stack = Stack(data_dir=tmp_path, ports={"gateway": gateway_port})
    checks = stack.readiness()
    assert set(SERVICES) <= checks.keys()
    assert all(checks.values())


def test_another_process_on_the_gateways_port_is_not_a_ready_stack(
    tmp_path: Path, service_port: int
) -> None:
    """A service that got the gateway's port (its own /ready says ready) must not make the
    stack look ready: the tests' requests would reach that service instead."""
    stack = Stack(data_dir=tmp_path, ports={"gateway": service_port})
    assert stack.readiness() == {}


@pytest.fixture
def stranger_port() -> Iterator[int]:
    yield from answering_ready(["not", "a", "mapping"])


def test_an_answer_of_another_shape_is_not_a_ready_stack(
    tmp_path: Path, stranger_port: int
) -> None:
    stack = Stack(data_dir=tmp_path, ports={"gateway": stranger_port})
    assert stack.readiness() == {}
