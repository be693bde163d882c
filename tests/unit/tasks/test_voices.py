"""Voices: a Piper folder's speakers, and which one a request gets (OpenAI's names on a one-voice model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubserve.errors import UnknownOption
from hubserve.tasks.text_to_speech import pick_voice, voice_names


def voice_folder(tmp_path: Path, speakers: dict[str, int] | None) -> Path:
    (tmp_path / "en_GB-vctk-medium.onnx").write_bytes(b"x")
    config = {"phoneme_id_map": {}, **({"speaker_id_map": speakers} if speakers else {})}
    (tmp_path / "en_GB-vctk-medium.onnx.json").write_text(json.dumps(config))
    return tmp_path


def test_a_one_voice_folder_is_named_by_its_file(tmp_path: Path) -> None:
    assert voice_names(voice_folder(tmp_path, None)) == ["en_GB-vctk-medium"]


def test_a_many_speaker_folder_lists_its_speakers(tmp_path: Path) -> None:
    assert voice_names(voice_folder(tmp_path, {"p225": 0, "p226": 1})) == ["p225", "p226"]


def test_openai_names_mean_the_only_voice_but_not_one_of_many() -> None:
    assert pick_voice(("joe",), "alloy") == "joe"
    assert pick_voice(("joe",), None) == "joe"
    assert pick_voice(("p225", "p226"), "p226") == "p226"
    with pytest.raises(UnknownOption, match="p225, p226"):
        pick_voice(("p225", "p226"), "alloy")
    with pytest.raises(UnknownOption, match="joe"):
        pick_voice(("joe",), "nobody")
