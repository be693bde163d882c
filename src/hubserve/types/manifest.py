"""Manifest: what a repo in the hub holds (tasks, format, files, size, licence) and where it came from."""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, Field

ModelFormat = Literal["transformers", "onnx", "gguf", "ctranslate2", "piper", "diffusers"]
MANIFEST_NAME = "manifest.json"


class FileEntry(BaseModel):
    """One file of a repo, with its size and content digest."""

    path: str
    size_bytes: int
    sha256: str


class Manifest(BaseModel):
    """The manifest stored beside a repo's files."""

    id: str
    tasks: list[str] = Field(min_length=1)
    format: ModelFormat
    library: str = "transformers"
    license: str | None = None
    source: str
    created_at: str
    files: list[FileEntry]

    @property
    def size_bytes(self) -> int:
        """Total size of the repo's files."""
        return sum(f.size_bytes for f in self.files)

    @cached_property
    def revision(self) -> str:
        """A content digest over all files: changes whenever any weight or config changes."""
        digest = hashlib.sha256()
        for entry in sorted(self.files, key=lambda f: f.path):
            digest.update(f"{entry.path}\0{entry.sha256}\n".encode())
        return digest.hexdigest()[:40]

    @property
    def pipeline_tag(self) -> str:
        """The default task, as the Hub's ``pipeline_tag``."""
        return self.tasks[0]
