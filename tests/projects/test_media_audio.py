"""Audio is checked by a real decode (libsndfile): real MP3, OGG (Vorbis and Opus) and FLAC files
are accepted with their type; files whose sound cannot be decoded are refused with the reason."""

import io

import numpy as np
import pytest
import soundfile

from projects.media import FLAC, MP3, OGG, WAV, MediaRefused, media_check


def sound(fmt: str, subtype: str, seconds: float = 2.0) -> bytes:
    rate = 48_000 if subtype == "OPUS" else 16_000
    wave = 0.3 * np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, int(rate * seconds)))
    buffer = io.BytesIO()
    soundfile.write(buffer, wave.astype("float32"), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "subtype", "expected"),
    [
        ("WAV", "PCM_16", WAV),
        ("FLAC", "PCM_16", FLAC),
        ("OGG", "VORBIS", OGG),
        ("OGG", "OPUS", OGG),
        ("MP3", "MPEG_LAYER_III", MP3),
    ],
)
def test_real_audio_files_are_accepted_with_their_type(fmt, subtype, expected):
    assert media_check(sound(fmt, subtype)) == expected


def scramble(data: bytes, start: int, length: int = 400) -> bytes:
    damaged = bytearray(data)
    for i in range(start, start + length):
        damaged[i] = (damaged[i] * 7 + 13) & 0xFF
    return bytes(damaged)


def test_a_flac_file_whose_frames_are_damaged_is_refused_by_the_decoder():
    data = sound("FLAC", "PCM_16")
    with pytest.raises(MediaRefused, match="cannot be decoded as FLAC audio"):
        media_check(scramble(data, len(data) // 3))


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
def test_an_ogg_file_with_a_damaged_codec_header_is_refused(subtype):
    data = sound("OGG", subtype)
    # Inside the second page's body (the codec's comment and setup headers), its framing intact:
    # the page checksum no longer matches, so the stream's headers cannot be read.
    second = data.index(b"OggS", 4)
    body = second + 27 + data[second + 26]
    with pytest.raises(MediaRefused, match="cannot be decoded as OGG audio") as refused:
        media_check(scramble(data, body + 2, length=8))
    assert "BytesIO" not in str(refused.value)  # the reason names the problem, not our buffer


def test_a_flac_header_on_sound_that_is_not_there_is_refused():
    data = sound("FLAC", "PCM_16")
    with pytest.raises(MediaRefused, match="FLAC"):
        media_check(data[:200] + bytes(len(data) - 200))


def test_garbage_behind_an_mp3_tag_is_refused():
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    with pytest.raises(MediaRefused, match="not a valid MP3 file"):
        media_check(tag + bytes(range(256)) * 20)
