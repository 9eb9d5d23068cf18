"""Small media files and ZIPs for tests, made on the fly (Pillow, wave, zipfile), and examples
whose file is already in private storage."""

import hashlib
import io
import json
import wave
import zipfile

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw

from tests.factories import ExampleFactory


def image_bytes(fmt: str = "PNG", size=(32, 24), colour=(200, 40, 40)) -> bytes:
    image = Image.new("RGB", size, (255, 255, 255))
    ImageDraw.Draw(image).ellipse((4, 4, size[0] - 4, size[1] - 4), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def wav_bytes(frames: int = 800) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(2 * frames))
    return buffer.getvalue()


def media_zip(files: dict[str, bytes], manifest: list[dict] | str | None, name="manifest.jsonl") -> bytes:
    """A ZIP with `files` and a manifest (rows as dicts written as JSONL, or the manifest's text)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if manifest is not None:
            text = (
                manifest if isinstance(manifest, str) else "".join(json.dumps(row) + "\n" for row in manifest)
            )
            archive.writestr(name, text)
        for file_name, data in files.items():
            archive.writestr(file_name, data)
    return buffer.getvalue()


def stored_media_example(project, data: bytes, media_type: str, *, name: str, **fields):
    """An example of `project` whose media file (`data`, named `name` as in its ZIP) is stored as
    an import stores it: by content, in the project's private folder."""
    sha = hashlib.sha256(data).hexdigest()
    stored = default_storage.save(f"media/{project.pk}/{sha}", ContentFile(data))
    return ExampleFactory(
        **{"text": "", **fields},
        project=project,
        media_file=stored,
        media_name=name,
        media_type=media_type,
        media_sha256=sha,
        media_bytes=len(data),
    )
