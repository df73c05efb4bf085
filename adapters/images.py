"""What an image must be before it is stored (SPEC 7, hostile input): a PNG or JPEG of at most 5 MB that decodes,
and not a decompression bomb. Pillow only, so that ingestion never imports torch."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from application.record_validation import image_problem as size_or_format_problem

MAX_PIXELS = 40_000_000  # beyond this an image is treated as a decompression bomb
TOO_LARGE = "image is too large: more than 40 megapixels once decoded"


def image_problem(data: bytes) -> str | None:
    """Why these bytes cannot be a record's image, or None. PNG chunks are checked whole (CRCs, up to IEND);
    a JPEG is decoded. Pixels are never decoded past MAX_PIXELS."""
    if problem := size_or_format_problem(data):
        return problem
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return TOO_LARGE
                if image.format == "PNG":
                    image.verify()
                else:
                    image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return TOO_LARGE
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        return f"image does not decode ({type(error).__name__})"
    return None
