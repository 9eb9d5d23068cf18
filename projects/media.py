"""Checking a media file by its content: magic bytes, then a real decode (Pillow for images; for
audio the container's structure, then libsndfile through soundfile decodes the first
DECODE_SECONDS of sound). No ORM.

`media_check(data)` returns the file's `MediaType` or raises `MediaRefused` with a sentence a
user can act on. The extension is never trusted: an HTML or SVG page renamed to .png is refused
because its bytes are text, not a PNG. Only these types are ever stored and served:
PNG, JPEG, WebP, GIF (its first frame is what is shown) and WAV, MP3, OGG (Vorbis, Opus, FLAC),
FLAC.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass

import soundfile
from PIL import Image, UnidentifiedImageError

# Images larger than this many pixels are refused (Pillow's decompression-bomb guard, made strict).
MAX_IMAGE_PIXELS = 64_000_000
# How much of an audio file is decoded at import: enough to prove it is sound in that format (a
# corrupt stream fails within its first frames) without decoding hours of recordings. The
# structure check before it has already walked the container to its declared end.
DECODE_SECONDS = 10
AUDIO_NAMES = {"audio/wav": "WAV", "audio/mpeg": "MP3", "audio/ogg": "OGG", "audio/flac": "FLAC"}


class MediaRefused(Exception):
    """The file is not a supported, intact image or audio file; str() says why."""


@dataclass(frozen=True)
class MediaType:
    content_type: str
    extension: str

    @property
    def kind(self) -> str:
        return self.content_type.split("/", 1)[0]


PNG = MediaType("image/png", "png")
JPEG = MediaType("image/jpeg", "jpg")
WEBP = MediaType("image/webp", "webp")
GIF = MediaType("image/gif", "gif")
WAV = MediaType("audio/wav", "wav")
MP3 = MediaType("audio/mpeg", "mp3")
OGG = MediaType("audio/ogg", "ogg")
FLAC = MediaType("audio/flac", "flac")
SERVABLE_TYPES = {t.content_type for t in (PNG, JPEG, WEBP, GIF, WAV, MP3, OGG, FLAC)}
PILLOW_FORMATS = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP", GIF: "GIF"}
SUPPORTED = "PNG, JPEG, WebP, GIF, WAV, MP3, OGG or FLAC"


def media_sniff(head: bytes) -> MediaType | None:
    """The type the first bytes announce, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return MP3
    return None


def _looks_like_markup(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<", b"<?xml", b"<!doctype", b"<svg", b"<html"))


def media_check(data: bytes) -> MediaType:
    """The type of `data` if it is a supported file that decodes; MediaRefused otherwise."""
    media_type = media_sniff(data[:16])
    if media_type is None:
        if _looks_like_markup(data[:512]):
            raise MediaRefused(f"is HTML, SVG or XML, not an image or audio file (use {SUPPORTED})")
        if not data:
            raise MediaRefused("is empty")
        raise MediaRefused(f"is not a supported image or audio file (use {SUPPORTED})")
    if media_type.kind == "image":
        _image_check(data, media_type)
    else:
        {WAV: _wav_check, MP3: _mp3_check, OGG: _ogg_check, FLAC: _flac_check}[media_type](data)
        _audio_decode(data, media_type)
    return media_type


def _audio_decode(data: bytes, media_type: MediaType) -> None:
    """Decode the first DECODE_SECONDS of sound with libsndfile; refuse a file it cannot read as
    the announced format, or one without a single sample."""
    name = AUDIO_NAMES[media_type.content_type]
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as audio:
            if audio.samplerate <= 0 or audio.channels <= 0:
                raise MediaRefused(f"is a {name} file without a sample rate or channels")
            # WAVEX and RF64 are WAV containers too.
            wav_family = name == "WAV" and audio.format in ("WAVEX", "RF64")
            if name not in audio.format and not wav_family:
                raise MediaRefused(f"announces {name} but holds {audio.format} audio")
            decoded = audio.read(frames=audio.samplerate * DECODE_SECONDS, dtype="int16", always_2d=True)
    except MediaRefused:
        raise
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise MediaRefused(f"cannot be decoded as {name} audio ({_reason(exc)})") from None
    if len(decoded) == 0:
        raise MediaRefused(f"is a {name} file with no audio to decode")


def _image_check(data: bytes, media_type: MediaType) -> None:
    name = PILLOW_FORMATS[media_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[name]) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise MediaRefused(
                        f"is {width}x{height} pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels"
                    )
                image.load()  # decodes every pixel (the first frame of a GIF): truncation shows here
    except MediaRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaRefused(f"is not a readable {name} image ({_reason(exc)})") from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise MediaRefused(f"is a corrupt or truncated {name} image ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).split("\n", 1)[0]
    text = re.sub(r"^Error opening <[^>]*>: ", "", text)  # libsndfile names our in-memory buffer
    return text[:120] or type(exc).__name__


def _wav_check(data: bytes) -> None:
    """RIFF/WAVE: a fmt chunk with a known sample format and a data chunk that fits in the file."""
    riff_size = struct.unpack_from("<I", data, 4)[0]
    if riff_size + 8 > len(data) + 1:
        raise MediaRefused("is a truncated WAV file (shorter than its header says)")
    position, fmt, has_data = 12, None, False
    while position + 8 <= len(data):
        chunk, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = position + 8
        if body + size > len(data):
            raise MediaRefused(f"is a truncated WAV file (its {chunk.decode('latin-1')!r} chunk is cut off)")
        if chunk == b"fmt " and size >= 16:
            fmt = struct.unpack_from("<HHIIHH", data, body)
        elif chunk == b"data":
            has_data = size > 0
        position = body + size + (size & 1)
    if fmt is None or not has_data:
        raise MediaRefused("is not a valid WAV file (no format or no audio data)")
    audio_format, channels, rate, _, block_align, bits = fmt
    if audio_format not in (1, 3, 6, 7, 0xFFFE) or not channels or not rate or not block_align:
        raise MediaRefused("is a WAV file with an unsupported or invalid sample format")


_MP3_BITRATES = {  # MPEG-1 and MPEG-2/2.5 Layer III, kbit/s by index
    3: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame_length(data: bytes, position: int) -> int | None:
    if position + 4 > len(data) or data[position] != 0xFF or data[position + 1] & 0xE0 != 0xE0:
        return None
    b1, b2 = data[position + 1], data[position + 2]
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values, or not Layer III (what .mp3 means)
    bitrate = _MP3_BITRATES[3 if version == 3 else 2][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    factor = 144 if version == 3 else 72
    return factor * bitrate // rate + padding


def _mp3_check(data: bytes) -> None:
    """An optional ID3v2 tag, then at least three consecutive, valid MPEG Layer III frames."""
    position = 0
    if data.startswith(b"ID3") and len(data) >= 10:
        size = data[6:10]
        if any(byte & 0x80 for byte in size):
            raise MediaRefused("is not a valid MP3 file (a corrupt ID3 tag)")
        position = 10 + ((size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3])
    frames = 0
    while frames < 3:
        length = _mp3_frame_length(data, position)
        if length is None or position + length > len(data) and frames < 2:
            raise MediaRefused("is not a valid MP3 file (no sequence of MPEG audio frames)")
        position += length
        frames += 1


def _ogg_check(data: bytes) -> None:
    """Ogg pages chained from the start, the first one announcing Vorbis, Opus or FLAC."""
    position, pages, codec = 0, 0, None
    while position < len(data) and pages < 3:
        if data[position : position + 4] != b"OggS" or position + 27 > len(data):
            raise MediaRefused("is a corrupt or truncated OGG file (a broken page)")
        segments = data[position + 26]
        table_end = position + 27 + segments
        if table_end > len(data):
            raise MediaRefused("is a truncated OGG file")
        body = sum(data[position + 27 : table_end])
        if pages == 0:
            payload = data[table_end : table_end + 8]
            if payload.startswith(b"\x01vorbis"):
                codec = "vorbis"
            elif payload.startswith(b"OpusHead"):
                codec = "opus"
            elif payload.startswith(b"\x7fFLAC"):
                codec = "flac"
        if table_end + body > len(data):
            raise MediaRefused("is a truncated OGG file")
        position = table_end + body
        pages += 1
    if codec is None:
        raise MediaRefused("is an OGG file without Vorbis, Opus or FLAC audio")
    if pages < 2:
        raise MediaRefused("is a truncated OGG file (no audio after its header)")


def _flac_check(data: bytes) -> None:
    """fLaC, a 34-byte STREAMINFO block with a sample rate, metadata blocks that fit, then a frame."""
    if len(data) < 42 or data[4] & 0x7F != 0 or int.from_bytes(data[5:8], "big") != 34:
        raise MediaRefused("is not a valid FLAC file (no STREAMINFO block)")
    rate = int.from_bytes(data[18:21], "big") >> 4
    if rate == 0:
        raise MediaRefused("is not a valid FLAC file (sample rate 0)")
    position = 4
    while True:
        if position + 4 > len(data):
            raise MediaRefused("is a truncated FLAC file")
        header = data[position]
        position += 4 + int.from_bytes(data[position + 1 : position + 4], "big")
        if header & 0x80:
            break
    if position + 2 > len(data) or data[position] != 0xFF or data[position + 1] & 0xFE != 0xF8:
        raise MediaRefused("is a truncated FLAC file (no audio frame after its metadata)")
