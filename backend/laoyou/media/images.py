"""Reading and re-encoding photos, in a process that decodes one image and exits.

A small file can describe a huge image (a 12 KB PNG of 6300×6300 white pixels decodes to 160 MB), and the
memory a decode took is kept by the process that took it. So the size is read from the header first and
anything bigger than a phone photo is refused before decoding; JPEG is decoded at a reduced scale where that
is still big enough; and the decoding happens in a process of its own that ends after the one image, so its
memory goes back to the system at once, one image at a time per app process.

This module imports nothing of Laoyou: it is what the decoding process loads.
"""

from __future__ import annotations

import asyncio
import io
import logging
import resource
import struct
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 2048  # what is stored; the PWA sends 1600 already
THUMB_SIDE = 320
# A phone's photo is 12 megapixels (4032×3024); sensors with more save 12 MP unless told otherwise.
MAX_PIXELS = 4096 * 4096
FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
# The decoding process's ceiling. The largest image allowed, decoded with transparency and converted, needs
# 150 MB (WebP, decoded through two more copies, fits up to about 8 MP); should a decoder misbehave on a
# crafted file, it fails there: the file is refused as too large and the server never holds that memory.
DECODER_MEMORY = 200 * 1024 * 1024
DECODE_SECONDS = 60
REFUSED_EXIT = 3
_HEAD = struct.Struct(">III")  # width, height, size of the full JPEG (the thumbnail follows it)
# One decode at a time (per app process): what the server holds at most is its own memory and one decode.
_decoders = ThreadPoolExecutor(1, thread_name_prefix="laoyou-image-decoder")
log = logging.getLogger("laoyou.media.images")

# Pillow's own check (an error above twice this), behind read_header's; its warning above this would only
# announce what read_header refuses next.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


class ImageRefused(Exception):
    """Not an image we read (reason "unreadable"), or one with more pixels than a photo needs ("too_large")."""


@dataclass(frozen=True)
class ProcessedImage:
    full: bytes
    thumb: bytes
    width: int
    height: int


def read_header(data: bytes) -> tuple[int, int]:
    """The image's size from its header, without decoding it; refused when it is not one we read or too big."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in FORMATS:
                raise ImageRefused("unreadable")
            width, height = probe.size
    except Image.DecompressionBombError:
        raise ImageRefused("too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRefused("unreadable") from None
    if width * height > MAX_PIXELS:
        raise ImageRefused("too_large")
    return width, height


def process_image(data: bytes) -> ProcessedImage:
    """Decode fully (so a truncated file is caught), downscale, turn upright, re-encode as JPEG without metadata."""
    read_header(data)
    image = Image.open(io.BytesIO(data))
    try:
        if image.format == "JPEG":
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decoded at 1/2, 1/4 or 1/8 scale while still that big
        image.load()
        if image.mode != "RGB":
            # Before scaling (a palette scales badly, alpha through a copy), and the decoded pixels are let go
            # before the scaled copy is made: at most two full-size images exist at once.
            converted = image.convert("RGB")  # keeps info, where the orientation is read from
            image.close()
            image = converted
        image.thumbnail((MAX_SIDE, MAX_SIDE))
        ImageOps.exif_transpose(image, in_place=True)
        width, height = image.size
        full = io.BytesIO()
        image.save(full, "JPEG", quality=85, optimize=True)  # no exif= argument: EXIF and GPS are dropped
        image.thumbnail((THUMB_SIDE, THUMB_SIDE))
        thumb = io.BytesIO()
        image.save(thumb, "JPEG", quality=80, optimize=True)
    except (Image.DecompressionBombError, MemoryError):
        raise ImageRefused("too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRefused("unreadable") from None
    finally:
        image.close()
    return ProcessedImage(full.getvalue(), thumb.getvalue(), width, height)


# --- the decoding process --------------------------------------------------------------------------------


def _decode_in_child(data: bytes) -> ProcessedImage:
    # -P: the script's folder (laoyou/media) is not put on the path; this module needs only Pillow.
    try:
        done = subprocess.run(
            [sys.executable, "-P", __file__],
            input=data,
            capture_output=True,
            timeout=DECODE_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("an image took over %s s to decode; refused", DECODE_SECONDS)
        raise ImageRefused("unreadable") from None
    if done.returncode == REFUSED_EXIT:
        raise ImageRefused(done.stdout.decode())
    if done.returncode != 0 or len(done.stdout) < _HEAD.size:
        # Killed at its memory ceiling, or crashed in a decoder: the file is refused, the server is unharmed.
        log.warning("the image decoder failed (exit %s): %s", done.returncode, done.stderr[-500:])
        raise ImageRefused("unreadable")
    width, height, full_size = _HEAD.unpack_from(done.stdout)
    full = done.stdout[_HEAD.size : _HEAD.size + full_size]
    return ProcessedImage(full, done.stdout[_HEAD.size + full_size :], width, height)


async def decode(data: bytes) -> ProcessedImage:
    """process_image, in a process of its own; the images of concurrent uploads wait their turn."""
    return await asyncio.get_running_loop().run_in_executor(_decoders, _decode_in_child, data)


def _main() -> None:
    """The decoding process: image bytes on stdin; on stdout the sizes and the two JPEGs, or why it was refused."""
    resource.setrlimit(resource.RLIMIT_DATA, (DECODER_MEMORY, DECODER_MEMORY))
    try:
        result = process_image(sys.stdin.buffer.read())
    except ImageRefused as refused:
        sys.stdout.buffer.write(str(refused).encode())
        sys.exit(REFUSED_EXIT)
    head = _HEAD.pack(result.width, result.height, len(result.full))
    sys.stdout.buffer.write(head + result.full + result.thumb)


if __name__ == "__main__":
    _main()
