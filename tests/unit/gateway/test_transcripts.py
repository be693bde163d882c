"""Subtitles as OpenAI writes them: numbered SubRip cues with commas, WebVTT with a header and dots."""

from __future__ import annotations

from hubserve.gateway.openai.transcripts import srt, vtt

SEGMENTS = [
    {"start": 0.0, "end": 2.5, "text": " Hello there."},
    {"start": 2.5, "end": 3725.0421, "text": " A long while later."},
]


def test_srt_numbers_its_cues_and_writes_hours() -> None:
    assert srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
        "2\n00:00:02,500 --> 01:02:05,042\nA long while later.\n"
    )


def test_vtt_has_its_header_and_dotted_times() -> None:
    assert vtt(SEGMENTS[:1]) == "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n"
