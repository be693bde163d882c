"""Copy files into a staging folder while hashing them, with a progress bar for long copies."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from hubserve.types.manifest import FileEntry

_CHUNK = 1 << 20


def copy_files(
    sources: Sequence[tuple[Path, str]], dest: Path, *, label: str, show_progress: bool | None = None
) -> list[FileEntry]:
    """Copy each (source file, relative path) under ``dest``; return entries with size and sha256."""
    total = sum(src.stat().st_size for src, _ in sources)
    show = sys.stderr.isatty() if show_progress is None else show_progress
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    entries: list[FileEntry] = []
    with Progress(*columns, disable=not show, transient=False) as progress:
        task = progress.add_task(label, total=total)
        for src, rel in sources:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            with src.open("rb") as fin, target.open("wb") as fout:
                while chunk := fin.read(_CHUNK):
                    digest.update(chunk)
                    fout.write(chunk)
                    progress.advance(task, len(chunk))
            entries.append(FileEntry(path=rel, size_bytes=target.stat().st_size, sha256=digest.hexdigest()))
    return entries
