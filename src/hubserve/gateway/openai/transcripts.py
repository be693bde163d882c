"""Subtitles from a transcript's segments: SubRip (``srt``) and WebVTT (``vtt``), as OpenAI writes them."""

from __future__ import annotations

from typing import Any


def srt(segments: list[dict[str, Any]]) -> str:
    """Numbered cues with ``HH:MM:SS,mmm`` times."""
    cues = [
        f"{i}\n{_clock(s['start'], ',')} --> {_clock(s['end'], ',')}\n{s['text'].strip()}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(cues)


def vtt(segments: list[dict[str, Any]]) -> str:
    """A WEBVTT header, then cues with ``HH:MM:SS.mmm`` times."""
    cues = [f"{_clock(s['start'], '.')} --> {_clock(s['end'], '.')}\n{s['text'].strip()}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"
