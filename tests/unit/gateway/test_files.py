"""Short-lived files: unguessable names, expiry on the clock, the oldest dropped past the byte budget."""

from __future__ import annotations

from hubserve.gateway.files import ShortLivedFiles


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_file_is_there_until_it_expires() -> None:
    clock = Clock()
    files = ShortLivedFiles(ttl_s=60, max_bytes=1000, clock=clock)
    name = files.put(b"png bytes", "image/png")
    assert len(name) >= 43  # 32 random bytes, URL-safe base64
    stored = files.get(name)
    assert stored is not None and stored.data == b"png bytes" and stored.content_type == "image/png"
    clock.now = 59.9
    assert files.get(name) is not None
    clock.now = 60.1
    assert files.get(name) is None and len(files) == 0


def test_past_the_byte_budget_the_oldest_go_first() -> None:
    files = ShortLivedFiles(ttl_s=60, max_bytes=10, clock=Clock())
    first = files.put(b"123456", "image/png")
    second = files.put(b"abcdef", "image/png")
    assert files.get(first) is None and files.get(second) is not None


def test_names_differ_and_unknown_ones_are_none() -> None:
    files = ShortLivedFiles(ttl_s=60, max_bytes=100)
    assert files.put(b"a", "image/png") != files.put(b"a", "image/png")
    assert files.get("guess") is None
