"""The Hub's older task names, as READMEs, ``--task`` and URLs may still give them, and what they are now."""

from __future__ import annotations

TASK_ALIASES: dict[str, str] = {"sentence-ranking": "text-ranking"}

# The Hub's pipeline tags for inference tasks: what a client may ask for, served here or not.
HUB_TASKS = frozenset(
    """
    audio-classification audio-to-audio automatic-speech-recognition depth-estimation
    document-question-answering feature-extraction fill-mask image-classification image-feature-extraction
    image-segmentation image-text-to-text image-to-image image-to-text image-to-video mask-generation
    object-detection question-answering sentence-similarity summarization table-question-answering
    text-classification text-generation text-ranking text-to-audio text-to-image text-to-speech
    text-to-video text2text-generation token-classification translation video-classification
    visual-question-answering zero-shot-classification zero-shot-image-classification
    zero-shot-object-detection
    """.split()
)
