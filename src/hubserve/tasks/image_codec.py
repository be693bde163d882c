"""Images in: any file Pillow reads, checked for size before its pixels are decoded."""

from __future__ import annotations

import io
from typing import Any

from hubserve.errors import ImageTooLarge, InvalidImage


def open_image(data: bytes, max_pixels: int) -> Any:
    """An RGB PIL image from a file's bytes; InvalidImage if it is none, ImageTooLarge past ``max_pixels``."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidImage("The image is empty")
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size  # read from the header: nothing decoded yet
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"The image is {width}x{height}; at most {max_pixels} pixels (HUBSERVE_MAX_IMAGE_PIXELS)"
            )
        return image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImage(f"The image could not be read: {exc}") from None
