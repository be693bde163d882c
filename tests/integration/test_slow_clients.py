"""Slow and silent clients against a real server: each is answered 408 and closed within its deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import running_server


@pytest.fixture(scope="module")
def strict(hub_home: Path) -> Iterator[tuple[str, int]]:
    """A server that gives headers 1 s and pauses in a body 1 s."""
    with running_server(hub_home, HUBSERVE_HEADER_TIMEOUT_S="1", HUBSERVE_BODY_TIMEOUT_S="1") as (url, _):
        parsed = urlparse(url)
        yield parsed.hostname or "127.0.0.1", parsed.port or 80


def read_until_closed(sock: socket.socket, within_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; and how long that took."""
    started = time.monotonic()
    sock.settimeout(within_s)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - started


def test_connections_that_send_nothing_are_closed_with_408(strict: tuple[str, int]) -> None:
    socks = [socket.create_connection(strict) for _ in range(50)]
    try:
        answers = [read_until_closed(s, 10) for s in socks]
    finally:
        for s in socks:
            s.close()
    assert all(data.startswith(b"HTTP/1.1 408") for data, _ in answers)
    assert max(took for _, took in answers) < 5


def test_headers_sent_a_byte_a_second_are_cut_off(strict: tuple[str, int]) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 20
    with socket.create_connection(strict) as sock:
        started = time.monotonic()
        closed = False
        for byte in request:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.3)
            if time.monotonic() - started > 3:
                break
        data, _ = read_until_closed(sock, 5)
    assert closed or data.startswith(b"HTTP/1.1 408"), data
    assert time.monotonic() - started < 8


def test_a_body_that_stalls_is_408_and_closed(strict: tuple[str, int]) -> None:
    with socket.create_connection(strict) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"input": '
        )
        data, took = read_until_closed(sock, 10)
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"request_timeout" in data and took < 5


def test_an_over_limit_chunked_upload_is_413_and_the_server_stops_reading(strict: tuple[str, int]) -> None:
    chunk = b"x" * 65536
    with socket.create_connection(strict) as sock:
        sock.sendall(
            b"POST /models/test/tiny-embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        started = time.monotonic()
        try:
            while sent < 1 << 30 and time.monotonic() - started < 10:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(5)
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            data = b""
    # The server answered 413 (max body 256 KiB in the tests) and closed: the upload could not go on.
    assert sent < 64 << 20, f"the server read {sent >> 20} MiB past its limit"
    assert data == b"" or data.startswith(b"HTTP/1.1 413"), data
