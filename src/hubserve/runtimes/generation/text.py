"""Turn a stream of token bytes into text that is safe to send: whole UTF-8 characters, stop sequences cut."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field


@dataclass
class TextAssembler:
    """Accumulates token bytes; releases text that cannot be part of a stop sequence."""

    stops: tuple[str, ...] = ()
    text: str = ""
    released: int = 0
    stopped: bool = False
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    def feed(self, data: bytes) -> str:
        """Add one token's bytes; return the text newly safe to release."""
        if self.stopped:
            return ""
        self.text += self._decoder.decode(data)
        for stop in self.stops:
            at = self.text.find(stop, max(0, self.released - len(stop)))
            if stop and at != -1:
                self.text = self.text[:at]
                self.stopped = True
        hold = 0 if self.stopped else self._held_back()
        safe_end = max(self.released, len(self.text) - hold)
        delta = self.text[self.released : safe_end]
        self.released = safe_end
        return delta

    def flush(self) -> str:
        """At the end: release whatever is held back (a partial stop sequence is just text)."""
        if not self.stopped:
            self.text += self._decoder.decode(b"", final=True)
        delta = self.text[self.released :]
        self.released = len(self.text)
        return delta

    def _held_back(self) -> int:
        """Length of the longest tail of the text that starts some stop sequence."""
        longest = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.text)), longest, -1):
                if self.text.endswith(stop[:n]):
                    longest = n
                    break
        return longest
