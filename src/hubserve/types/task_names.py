"""The Hub's older task names, as READMEs, ``--task`` and URLs may still give them, and what they are now."""

from __future__ import annotations

TASK_ALIASES: dict[str, str] = {"sentence-ranking": "text-ranking"}
