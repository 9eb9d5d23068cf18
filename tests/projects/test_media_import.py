"""Importing a ZIP of images or audio plus a manifest: checked by content, all or nothing,
every problem named with its line or file."""

import io
import zipfile

import pytest
from django.core.files.storage import default_storage

from projects.models import Example, ImportBatch
from projects.services.imports import import_batch_create, import_batch_run
from tests.media_files import image_bytes, media_zip, wav_bytes

HTML = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'


def run_import(project, data: bytes, name="media.zip"):
    batch = import_batch_create(
        project=project,
        user=None,
        uploaded_file_or_path=io.BytesIO(data),
        source_name=name,
        run_in_background=False,
    )
    return import_batch_run(batch_id=batch.id)


def stored_media(private_storage):
    root = private_storage / "media"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def messages(batch):
    return [f"{e['line']}:{e['column']}:{e['message']}" for e in batch.errors]


def test_images_and_audio_are_imported_with_type_hash_and_metadata(project, private_storage):
    png, jpeg = image_bytes("PNG"), image_bytes("JPEG", colour=(0, 0, 200))
    data = media_zip(
        {
            "a.png": png,
            "img/b.jpg": jpeg,
            "c.webp": image_bytes("WEBP"),
            "d.gif": image_bytes("GIF"),
            "e.wav": wav_bytes(),
        },
        [
            {"file": "a.png", "id": "x1", "source": "ward 3"},
            {"file": "img/b.jpg", "text": "left knee"},
            {"file": "c.webp"},
            {"file": "d.gif"},
            {"file": "e.wav", "id": 7},
        ],
    )

    batch = run_import(project, data)

    assert batch.status == ImportBatch.Status.SUCCEEDED, batch.errors
    assert batch.rows_created == 5
    a = project.examples.get(external_id="x1")
    assert (a.media_type, a.media_name, a.media_bytes, a.metadata) == (
        "image/png",
        "a.png",
        len(png),
        {"source": "ward 3"},
    )
    assert default_storage.open(a.media_file).read() == png
    import hashlib

    b = project.examples.get(media_name="img/b.jpg")
    assert b.external_id == "sha256:" + hashlib.sha256(jpeg).hexdigest()[:16]
    assert (b.text, b.media_type, b.media_sha256) == (
        "left knee",
        "image/jpeg",
        hashlib.sha256(jpeg).hexdigest(),
    )
    assert sorted(project.examples.values_list("media_type", flat=True)) == [
        "audio/wav",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/webp",
    ]

    again = run_import(project, data)
    assert (again.rows_created, again.rows_skipped) == (0, 5)
    # A known id with a new picture is skipped, and its picture is not kept.
    before = stored_media(private_storage)
    changed = run_import(
        project, media_zip({"a.png": image_bytes(colour=(1, 2, 3))}, [{"file": "a.png", "id": "x1"}])
    )
    assert (changed.rows_created, changed.rows_skipped) == (0, 1)
    assert stored_media(private_storage) == before


@pytest.mark.parametrize("disguise", [HTML, SVG], ids=["html", "svg"])
def test_a_disguised_html_or_svg_file_is_refused_with_its_line_and_name(project, private_storage, disguise):
    data = media_zip(
        {"ok.png": image_bytes(), "cat.png": disguise}, [{"file": "ok.png"}, {"file": "cat.png"}]
    )

    batch = run_import(project, data)

    assert batch.status == ImportBatch.Status.FAILED
    assert messages(batch) == [
        "2:file:'cat.png' is HTML, SVG or XML, not an image or audio file "
        "(use PNG, JPEG, WebP, GIF, WAV, MP3, OGG or FLAC)"
    ]
    assert not Example.objects.exists()
    assert stored_media(private_storage) == []  # ok.png, stored first, was removed again


def test_missing_corrupt_and_truncated_files_are_each_named(project, private_storage):
    jpeg = image_bytes("JPEG", size=(64, 64))
    data = media_zip(
        {
            "cut.jpg": jpeg[: len(jpeg) // 2],
            "junk.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
            "ok.png": image_bytes(),
            "short.wav": wav_bytes()[:60],
        },
        [
            {"file": "gone.png"},
            {"file": "cut.jpg"},
            {"file": "junk.png"},
            {"file": "ok.png"},
            {"file": "short.wav"},
            {"file": "ok.png"},
        ],
    )

    batch = run_import(project, data)

    found = messages(batch)
    assert found[0] == "1:file:'gone.png' is not in the ZIP"
    assert found[1].startswith("2:file:'cut.jpg' is a corrupt or truncated JPEG image")
    assert found[2].startswith("3:file:'junk.png' is")
    assert found[3].startswith("5:file:'short.wav' is a truncated WAV file")
    assert found[4] == "6:file:'ok.png' is also named on line 4"
    assert batch.error_count == 5
    assert not Example.objects.exists()
    assert stored_media(private_storage) == []


def _raw_zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def test_path_traversal_and_duplicate_names_are_refused_before_reading(project, private_storage):
    manifest = b'{"file": "a.png"}\n'
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = _raw_zip(
            [
                ("manifest.jsonl", manifest),
                ("a.png", image_bytes()),
                ("../../evil.png", image_bytes()),
                ("a.png", image_bytes()),
            ]
        )

    batch = run_import(project, data)

    assert messages(batch) == [
        "0:file:'../../evil.png' in the ZIP has an unsafe path (absolute, '..' or a backslash); "
        "nothing was read",
        "0:file:'a.png' in the ZIP is there twice (a duplicate file name)",
    ]
    assert not Example.objects.exists()
    assert stored_media(private_storage) == []
    assert not (private_storage.parent / "evil.png").exists()


def test_a_zip_bomb_is_refused_by_the_total_and_per_file_limits(project, private_storage, settings):
    settings.CONCORD_MEDIA_MAX_FILE_BYTES = 1_000_000
    settings.CONCORD_MEDIA_MAX_TOTAL_BYTES = 1_500_000
    zeros = b"\x00" * 900_000  # compresses to under 1 KB
    data = media_zip({f"z{i}.png": zeros for i in range(2)} | {"big.png": zeros * 2}, [{"file": "z0.png"}])

    batch = run_import(project, data)

    assert messages(batch) == [
        "0:file:'big.png' in the ZIP is 1800000 bytes uncompressed; the limit is 1000000",
        "0::the ZIP holds 1800019 bytes uncompressed; the limit is 1500000",
    ]
    assert not Example.objects.exists()


def test_a_member_larger_than_its_header_says_is_stopped_at_the_limit(project, private_storage, settings):
    from projects.media_zip import MediaLimits, MemberTooLarge, ZipContents

    data = media_zip({"a.png": b"\x00" * 5000}, [{"file": "a.png"}])
    archive = zipfile.ZipFile(io.BytesIO(data))
    contents = ZipContents(archive, MediaLimits(max_file_bytes=10_000))
    contents.limits = MediaLimits(max_file_bytes=1000)  # as if the header had lied about the size
    with pytest.raises(MemberTooLarge):
        contents.member_read(contents.members["a.png"])


def test_manifest_errors_name_the_line_and_not_a_zip_is_refused(project, private_storage):
    data = media_zip({"a.png": image_bytes()}, "file,id\na.png,1\n,2\n../x.png,3\n", name="manifest.csv")
    batch = run_import(project, data)
    assert messages(batch) == [
        "3:file:the file name is empty",
        "4:file:'../x.png' is not a safe path inside the ZIP ('..', absolute or '\\')",
    ]
    no_manifest = run_import(project, media_zip({"a.png": image_bytes()}, None))
    assert "the ZIP has no manifest" in messages(no_manifest)[0]
    not_zip = run_import(project, b"PK\x03\x04 not really a zip")
    assert messages(not_zip) == ["0::the file is not a readable ZIP archive"]
    assert not Example.objects.exists()


def test_import_command_reads_a_zip(project, tmp_path, private_storage):
    from django.core.management import call_command

    path = tmp_path / "scans.zip"
    path.write_bytes(media_zip({"a.png": image_bytes()}, [{"file": "a.png", "id": "s1"}]))
    out = io.StringIO()
    call_command("import_examples", "support", str(path), stdout=out)
    assert "1 examples created" in out.getvalue()
    assert project.examples.get().media_type == "image/png"


def test_the_api_and_the_import_page_take_a_zip(
    project, manager, manager_client, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.api.conftest import token_client

    api_zip = media_zip({"a.png": image_bytes()}, [{"file": "a.png", "id": "api-1"}])
    page_zip = media_zip({"b.wav": wav_bytes()}, [{"file": "b.wav", "id": "page-1"}])
    with django_capture_on_commit_callbacks(execute=True):
        response = token_client(manager).post(
            "/api/v1/projects/support/examples/import/", {"file": SimpleUploadedFile("scans.zip", api_zip)}
        )
        assert response.status_code == 202
        page = manager_client.post(
            "/projects/support/import/", {"file": SimpleUploadedFile("calls.zip", page_zip)}
        )
        assert page.status_code == 302
    assert sorted(project.examples.values_list("external_id", "media_type")) == [
        ("api-1", "image/png"),
        ("page-1", "audio/wav"),
    ]
