"""Reading and re-encoding photos, in a process that decodes one image and exits.

A small file can describe a huge image (a 12 KB PNG of 6300×6300 white pixels decodes to 160 MB), and the
memory a decode took is kept by the process that took it. So the size is read from the header first and
anything bigger than a phone photo is refused before decoding; JPEG is decoded at a reduced scale where that
is still big enough; and the decoding happens in a process of its own that ends after the one image, so its
memory goes back to the system at once, one image at a time per app process.

That process is forked from multiprocessing's fork server, which has this module (and Pillow) loaded already:
starting a fresh interpreter for each photo cost about 150 ms of CPU (startup and imports) against 10 ms for
the decoding itself, and under a morning's load the photos' uploads were the slowest requests (bench/district.py).

This module imports nothing of Laoyou: it is what the fork server loads.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import resource
import struct
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection

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
# What the decoding process answers: width, height and the size of the full JPEG, then it and the thumbnail;
# or REFUSED and the reason.
_HEAD = struct.Struct(">III")
REFUSED = b"refused:"
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


def _decode_child(data: bytes, answer: Connection) -> None:
    """In the forked process: the processed image, or the reason it is refused, through the pipe as plain
    bytes. Never pickled: this process reads an untrusted file, and unpickling what it sends would let a file
    that takes over a decoder run code in the server."""
    resource.setrlimit(resource.RLIMIT_DATA, (DECODER_MEMORY, DECODER_MEMORY))
    try:
        image = process_image(data)
        answer.send_bytes(_HEAD.pack(image.width, image.height, len(image.full)) + image.full + image.thumb)
    except ImageRefused as refused:
        answer.send_bytes(REFUSED + str(refused).encode())
    finally:
        answer.close()


def _read_answer(raw: bytes) -> ProcessedImage:
    if raw.startswith(REFUSED):
        reason = raw[len(REFUSED) :]
        raise ImageRefused("too_large" if reason == b"too_large" else "unreadable")
    if len(raw) < _HEAD.size:
        raise ImageRefused("unreadable")
    width, height, full_size = _HEAD.unpack_from(raw)
    full = raw[_HEAD.size : _HEAD.size + full_size]
    thumb = raw[_HEAD.size + full_size :]
    if len(full) != full_size or not thumb:
        raise ImageRefused("unreadable")
    return ProcessedImage(full, thumb, width, height)


def _decode_in_child(data: bytes) -> ProcessedImage:
    context = multiprocessing.get_context("forkserver")
    # Read when the fork server starts (the first process anything in this app forks); later, no effect.
    # "__main__": the script that started the app (`laoyou`) is imported there once, not in every child.
    context.set_forkserver_preload(["__main__", __name__])
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(
        target=_decode_child, args=(data, sending), name="laoyou-image-decoder", daemon=True
    )
    with receiving:
        try:
            child.start()
        finally:
            sending.close()  # the child holds its end: once it ends, however it ends, the pipe reads as closed
        try:
            if not receiving.poll(DECODE_SECONDS):
                log.warning("an image took over %s s to decode; refused", DECODE_SECONDS)
                child.kill()
                raise ImageRefused("unreadable")
            try:
                answer = _read_answer(receiving.recv_bytes())
            except EOFError:
                # Killed at its memory ceiling, or crashed in a decoder: refused, and the server is unharmed.
                child.join(DECODE_SECONDS)
                log.warning("the image decoder failed (exit %s)", child.exitcode)
                raise ImageRefused("unreadable") from None
        finally:
            child.join(1)  # it has answered (or was killed) and is on its way out
            if child.exitcode is None:
                child.kill()
                child.join()
            child.close()
    return answer


async def decode(data: bytes) -> ProcessedImage:
    """process_image, in a process of its own; the images of concurrent uploads wait their turn."""
    return await asyncio.get_running_loop().run_in_executor(_decoders, _decode_in_child, data)
