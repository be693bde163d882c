"""Audio in and out with PyAV (FFmpeg): any container to mono float32 at a model's rate, and back to a file.

Decoding reads whatever FFmpeg reads (wav, flac, mp3, ogg/opus, m4a, webm) and resamples with FFmpeg's own
resampler; a file that is empty, corrupt or not audio is ``InvalidAudio``, one longer than the limit is
``AudioTooLong``, found while decoding (no more than the limit is ever held in memory).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hubserve.errors import AudioTooLong, InvalidAudio, UnknownOption
from hubserve.runtimes.pipelines.base import Samples


@dataclass(frozen=True)
class AudioFormat:
    """One output format: its content type, and the FFmpeg container and codec that write it."""

    content_type: str
    container: str
    codec: str
    rate: int | None = None  # a rate the codec needs (opus takes 48 kHz only)


# OpenAI's response_format names, and the content types HF clients send in Accept.
AUDIO_FORMATS: dict[str, AudioFormat] = {
    "wav": AudioFormat("audio/wav", "wav", "pcm_s16le"),
    "flac": AudioFormat("audio/flac", "flac", "flac"),
    "mp3": AudioFormat("audio/mpeg", "mp3", "libmp3lame"),
    "opus": AudioFormat("audio/ogg", "ogg", "libopus", rate=48000),
    "aac": AudioFormat("audio/aac", "adts", "aac"),
    "pcm": AudioFormat("audio/pcm", "s16le", "pcm_s16le"),
}
CONTENT_TYPES = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/flac": "flac",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/ogg": "opus",
    "audio/opus": "opus",
    "audio/aac": "aac",
    "audio/pcm": "pcm",
}


def decode(data: bytes, rate: int, max_seconds: float) -> Samples:
    """Mono float32 samples at ``rate`` Hz from an audio file's bytes."""
    import av  # FFmpeg's libraries: loaded by the runners that need them

    if not data:
        raise InvalidAudio("The audio is empty")
    limit = int(max_seconds * rate)
    pieces: list[Samples] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise InvalidAudio("The file has no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    piece = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    total += len(piece)
                    if total > limit:
                        raise AudioTooLong(
                            f"The audio is longer than {max_seconds:g} s, the most one request may send "
                            "(HUBSERVE_MAX_AUDIO_S)"
                        )
                    pieces.append(piece)
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    except (InvalidAudio, AudioTooLong):
        raise
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise InvalidAudio(f"The audio could not be decoded: {exc}") from None
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise InvalidAudio("The audio holds no samples")
    return samples


def seconds(samples: Samples, rate: int) -> float:
    """The length of some samples, in seconds."""
    return len(samples) / rate


def audio_format(name: str) -> AudioFormat:
    """An output format by OpenAI's name (``wav``, ``mp3``, …); UnknownOption names the valid ones."""
    found = AUDIO_FORMATS.get(name)
    if found is None:
        raise UnknownOption(f"Unknown audio format {name!r}; valid: {', '.join(AUDIO_FORMATS)}")
    return found


def encode(samples: Samples, rate: int, name: str) -> bytes:
    """Samples in [-1, 1] as a file of format ``name``."""
    fmt = audio_format(name)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    if name == "wav":  # the default: the standard library writes it with no FFmpeg round trip
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            wav.writeframes(pcm.tobytes())
        return out.getvalue()
    if name == "pcm":
        return pcm.tobytes()
    return _ffmpeg_encode(pcm, rate, fmt)


def _ffmpeg_encode(pcm: npt.NDArray[np.int16], rate: int, fmt: AudioFormat) -> bytes:
    import av

    out = io.BytesIO()
    target = fmt.rate or rate
    with av.open(out, mode="w", format=fmt.container) as container:
        stream = container.add_stream(fmt.codec, rate=target, layout="mono")
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=target)
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    return out.getvalue()


class StreamEncoder:
    """Audio written as it is made: each ``feed`` gives the bytes of the file so far, ``finish`` the rest.

    WAV streams with its sizes set to the largest value (what streaming players expect); PCM is the bare
    samples; the other formats come from one FFmpeg encoder kept open across the pieces.
    """

    def __init__(self, rate: int, name: str) -> None:
        self.rate = rate
        self.name = name
        self.format = audio_format(name)
        self._started = False
        self._out = io.BytesIO()
        self._sent = 0
        self._container: Any = None
        self._stream: Any = None
        self._resampler: Any = None

    def feed(self, samples: Samples) -> bytes:
        """The new bytes after these samples."""
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        if self.name in ("wav", "pcm"):
            head = b"" if self._started or self.name == "pcm" else _streaming_wav_header(self.rate)
            self._started = True
            return head + pcm.tobytes()
        import av

        if self._container is None:
            self._container = av.open(self._out, mode="w", format=self.format.container)
            target = self.format.rate or self.rate
            self._stream = self._container.add_stream(self.format.codec, rate=target, layout="mono")
            self._resampler = av.AudioResampler(format=self._stream.format.name, layout="mono", rate=target)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        for piece in self._resampler.resample(frame):
            self._container.mux(self._stream.encode(piece))
        return self._take()

    def finish(self) -> bytes:
        """What is left: the encoder's last frames and the container's trailer."""
        if self._container is None:
            return b""
        for piece in self._resampler.resample(None):
            self._container.mux(self._stream.encode(piece))
        self._container.mux(self._stream.encode(None))
        self._container.close()
        return self._take()

    def _take(self) -> bytes:
        data = self._out.getvalue()[self._sent :]
        self._sent += len(data)
        return data


def _streaming_wav_header(rate: int) -> bytes:
    """A mono 16-bit WAV header whose sizes are unknown (0xFFFFFFFF), for audio sent as it is made."""
    import struct

    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )
