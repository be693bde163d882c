"""The audio codec: every output format decodes back to the same length; bad files fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

from hubserve.errors import AudioTooLong, InvalidAudio, UnknownOption
from hubserve.tasks.audio_codec import AUDIO_FORMATS, StreamEncoder, decode, encode

RATE = 22050


def tone(seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("name", [n for n in AUDIO_FORMATS if n != "pcm"])
def test_each_format_decodes_back_to_its_length_at_the_models_rate(name: str) -> None:
    data = encode(tone(1.0), RATE, name)
    samples = decode(data, 16000, max_seconds=10)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / 16000 - 1.0) < 0.1  # codecs pad a frame or so
    assert 0.2 < float(np.abs(samples).max()) <= 1.0


def test_pcm_is_the_raw_16_bit_samples() -> None:
    data = encode(tone(0.5), RATE, "pcm")
    assert len(data) == 2 * int(0.5 * RATE)


def test_wav_resamples_to_the_asked_rate_exactly() -> None:
    assert len(decode(encode(tone(2.0), RATE, "wav"), 16000, max_seconds=10)) == 32000


@pytest.mark.parametrize("data", [b"", b"RIFF" + b"\0" * 40, b"not audio" * 100])
def test_empty_or_corrupt_audio_is_invalid_audio(data: bytes) -> None:
    with pytest.raises(InvalidAudio):
        decode(data, 16000, max_seconds=10)


def test_audio_past_the_limit_is_refused_while_decoding() -> None:
    with pytest.raises(AudioTooLong, match="HUBSERVE_MAX_AUDIO_S"):
        decode(encode(tone(3.0), RATE, "flac"), 16000, max_seconds=2)


def test_an_unknown_output_format_names_the_valid_ones() -> None:
    with pytest.raises(UnknownOption, match="wav, flac, mp3"):
        encode(tone(0.1), RATE, "midi")


@pytest.mark.parametrize("name", ["wav", "mp3", "flac", "opus", "aac"])
def test_a_stream_of_pieces_is_one_file_of_their_whole_length(name: str) -> None:
    encoder = StreamEncoder(RATE, name)
    data = b"".join(encoder.feed(tone(0.5)) for _ in range(4)) + encoder.finish()
    assert abs(len(decode(data, 16000, max_seconds=10)) / 16000 - 2.0) < 0.15


def test_a_streamed_pcm_is_the_samples_themselves() -> None:
    encoder = StreamEncoder(RATE, "pcm")
    assert len(encoder.feed(tone(0.5)) + encoder.finish()) == 2 * int(0.5 * RATE)
