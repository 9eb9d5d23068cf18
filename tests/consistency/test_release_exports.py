"""Exports ML tools load without code: Parquet per split (the CSV's columns, typed metadata), a
Hugging Face dataset that `datasets.load_dataset` reads offline with the release's rows, and Label
Studio tasks that `import_annotations --format labelstudio` brings back with the same labels.
Plus who may download them, bad format names, the command line, and files written once."""

import csv
import io
import json
import zipfile
from io import StringIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from consistency.agreement.services import agreement_report_compute
from consistency.releases.formats.labelstudio import rater_user_id
from consistency.releases.models import DatasetRelease, ReleaseExport
from consistency.releases.policy import CSV_COLUMNS
from consistency.releases.services import release_build, release_create
from labeling.models import Annotation, ConsensusLabel
from projects.models import Project
from tests.factories import AnnotationFactory, ExampleFactory, GuidelineVersionFactory

pytestmark = pytest.mark.django_db

SPLITS = ("train", "dev", "test")


def _metadata(n: int) -> dict:
    """Metadata of every JSON kind: typed fields, a field mixing kinds, one some examples lack."""
    meta = {
        "lang": ("en", "de", "fr")[n % 3],
        "year": 2000 + n,
        "score": n if n % 2 else n + 0.5,  # ints and floats: float64
        "flag": n % 4 == 0,
        "mixed": n if n % 3 else f"s{n}",  # ints and strings: JSON text in a string column
        "nested": {"a": [n, None]},
    }
    if n % 5 == 0:
        meta["rare"] = None if n % 10 == 0 else "here"
    return meta


@pytest.fixture
def decided(project, raters):
    """40 examples rated by three raters: 30 unanimous, 10 two-to-one (majority)."""
    labels = {label.name: label for label in project.labels.all()}
    names = ["billing", "bug", "feature"]
    versions = [GuidelineVersionFactory(project=project, number=number) for number in (1, 2)]
    for n in range(40):
        example = ExampleFactory(
            project=project,
            external_id=f"t{n:02d}",
            text=f'ticket {n}: "quoted", \\ back, ünï\ncode ✓' if n % 7 == 0 else f"ticket {n}",
            metadata=_metadata(n),
        )
        winner = labels[names[n % 3]]
        chosen = [winner] * 3 if n < 30 else [winner, winner, labels["other"]]
        for rater, label in zip(raters, chosen, strict=True):
            AnnotationFactory(example=example, rater=rater, label=label, guideline_version=versions[n >= 20])
        ConsensusLabel.objects.create(
            example=example,
            label=winner,
            source="unanimous" if n < 30 else "majority",
            agreement=1.0 if n < 30 else 2 / 3,
            n_raters=3,
            decided_at=timezone.now(),
        )
    return labels


@pytest.fixture
def release(project, manager, decided):
    agreement_report_compute(project_id=project.pk)
    return release_build(
        project=project,
        user=manager,
        tag="v1",
        policy={"include_raters": True, "include_rationale": True, "ratios": [0.6, 0.2, 0.2]},
    )


def _download(client, project, release, file_format) -> bytes:
    response = client.get(f"/api/v1/projects/{project.slug}/releases/{release.tag}/download/{file_format}/")
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)


def _jsonl(client, project, release) -> list[dict]:
    body = _download(client, project, release, "jsonl")
    return [json.loads(line) for line in body.decode("utf-8").splitlines()]


def test_parquet_per_split_has_the_csv_columns_and_typed_metadata(manager_client, project, release):
    expected = _jsonl(manager_client, project, release)
    csv_header = next(csv.reader(io.StringIO(_download(manager_client, project, release, "csv").decode())))
    assert csv_header == [*CSV_COLUMNS, "rationale", "raters"]

    rows = []
    for split in SPLITS:
        table = pq.read_table(io.BytesIO(_download(manager_client, project, release, f"parquet-{split}")))
        assert table.column_names == csv_header
        assert set(table.column("split").to_pylist()) <= {split}
        assert table.num_rows == release.counts["splits"][split] > 0
        rows += table.to_pylist()

    metadata_type = table.schema.field("metadata").type
    assert {field.name: field.type for field in metadata_type} == {
        "flag": pa.bool_(),
        "lang": pa.string(),
        "mixed": pa.string(),
        "nested": pa.string(),
        "rare": pa.string(),
        "score": pa.float64(),
        "year": pa.int64(),
    }
    assert table.schema.field("agreement").type == pa.float64()
    assert table.schema.field("n_raters").type == pa.int64()
    assert table.schema.field("guideline_versions").type == pa.list_(pa.int64())

    assert len(rows) == len(expected) == 40
    for row, line in zip(sorted(rows, key=lambda r: r["external_id"]), expected, strict=True):
        for column in ("external_id", "text", "label", "source", "split", "n_raters", "guideline_versions"):
            assert row[column] == line[column], column
        assert row["agreement"] == pytest.approx(line["agreement"])
        assert row["rationale"] is None
        assert {r["rater"]: r["label"] for r in row["raters"]} == line["raters"]
        meta = line["metadata"]
        assert row["metadata"]["year"] == meta["year"]
        assert isinstance(row["metadata"]["year"], int)
        assert row["metadata"]["score"] == meta["score"]
        assert isinstance(row["metadata"]["score"], float)
        assert row["metadata"]["flag"] is meta["flag"]
        assert row["metadata"]["lang"] == meta["lang"]
        mixed = meta["mixed"]
        assert row["metadata"]["mixed"] == (mixed if isinstance(mixed, str) else json.dumps(mixed))
        assert json.loads(row["metadata"]["nested"]) == meta["nested"]
        assert row["metadata"]["rare"] == meta.get("rare")  # missing and null alike: null


def test_hugging_face_dataset_loads_offline_with_the_release_rows(
    manager_client, project, release, tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    import datasets

    expected = _jsonl(manager_client, project, release)
    body = _download(manager_client, project, release, "hf")
    folder = tmp_path / "dataset"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert sorted(archive.namelist()) == [
            "README.md",
            *(f"data/{s}.parquet" for s in ("dev", "test", "train")),
        ]
        archive.extractall(folder)

    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert sorted(loaded) == ["dev", "test", "train"]
    names = loaded["train"].features["label"].names
    assert names == ["billing", "bug", "feature"]
    rows = []
    for split in SPLITS:
        for row in loaded[split]:
            rows.append({**row, "label": names[row["label"]]})
    assert len(rows) == len(expected)
    for row, line in zip(sorted(rows, key=lambda r: r["external_id"]), expected, strict=True):
        assert (row["external_id"], row["text"], row["label"], row["split"]) == (
            line["external_id"], line["text"], line["label"], line["split"],
        )  # fmt: skip
        assert row["agreement"] == pytest.approx(line["agreement"])
        assert row["metadata"]["year"] == line["metadata"]["year"]
        assert {r["rater"]: r["label"] for r in row["raters"]} == line["raters"]

    card = (folder / "README.md").read_text(encoding="utf-8")
    assert release.sha256 in card
    report = release.agreement_report.result
    assert f"It rests on {report['n_items']} examples" in card
    kappa = report["fleiss_kappa"]
    assert (
        f"| Fleiss' kappa | {kappa['value']:.3f} | {kappa['ci95'][0]:.3f} to {kappa['ci95'][1]:.3f} |" in card
    )
    for n, name in enumerate(names):
        assert f"| {n} | {name} |" in card
    assert '"include_raters": true' in card
    assert "guideline in force when cut: version 2; labels made under versions: 1, 2" in card


def test_label_studio_tasks_import_back_with_the_same_labels(manager_client, project, release, tmp_path):
    expected = {line["external_id"]: line for line in _jsonl(manager_client, project, release)}
    path = tmp_path / "tasks.json"
    path.write_bytes(_download(manager_client, project, release, "labelstudio"))
    tasks = json.loads(path.read_text(encoding="utf-8"))
    assert len(tasks) == 40
    assert all(task["annotations"][0]["ground_truth"] for task in tasks)

    out = StringIO()
    call_command("import_annotations", "back", str(path), "--create", "--format", "labelstudio", stdout=out)
    back = Project.objects.get(slug="back")
    examples = {e.external_id: e for e in back.examples.all()}
    assert set(examples) == set(expected)
    by_rater: dict[str, dict[str, str]] = {}
    for external_id, username, label in Annotation.objects.filter(example__project=back).values_list(
        "example__external_id", "rater__username", "label__name"
    ):
        by_rater.setdefault(external_id, {})[username] = label
    for external_id, line in expected.items():
        example = examples[external_id]
        assert example.text == line["text"]
        assert example.metadata == line["metadata"]
        got = by_rater[external_id]
        assert got.pop("labelstudio-0") == line["label"]  # the released label
        assert got == {f"labelstudio-{rater_user_id(p)}": label for p, label in line["raters"].items()}
    # The released label is one more vote with the majority: the new project decides the same.
    decided_back = dict(
        ConsensusLabel.objects.filter(example__project=back).values_list(
            "example__external_id", "label__name"
        )
    )
    assert decided_back == {external_id: line["label"] for external_id, line in expected.items()}


def test_label_studio_without_raters_carries_only_the_released_label(
    manager_client, project, manager, decided
):
    release = release_build(project=project, user=manager, tag="plain")
    tasks = json.loads(_download(manager_client, project, release, "labelstudio"))
    assert len(tasks) == 40
    for task in tasks:
        assert [a["completed_by"] for a in task["annotations"]] == [0]
        assert "raters" not in task["meta"]
        assert task["data"]["lang"] in {"en", "de", "fr"}


def test_files_are_written_once_and_the_release_stays_as_it_was(manager_client, sme_client, project, release):
    before = DatasetRelease.objects.values().get(pk=release.pk)
    first = _download(manager_client, project, release, "parquet-dev")
    assert ReleaseExport.objects.filter(release=release).count() == 3  # one pass writes every split
    second = _download(sme_client, project, release, "parquet-dev")
    assert first == second
    response = sme_client.get(f"/projects/{project.slug}/releases/{release.tag}/download/parquet-dev/")
    assert response["Content-Disposition"] == 'attachment; filename="support-v1-dev.parquet"'
    assert (
        response["X-File-SHA256"]
        == ReleaseExport.objects.get(release=release, file_format="parquet-dev").sha256
    )
    assert ReleaseExport.objects.filter(release=release).count() == 3
    assert DatasetRelease.objects.values().get(pk=release.pk) == before


@pytest.mark.parametrize("file_format", ["parquet-train", "hf", "labelstudio"])
def test_outsiders_get_404_and_labelers_403(
    outsider_client, labeler_client, manager_client, project, release, file_format
):
    api = f"/api/v1/projects/{project.slug}/releases/{release.tag}/download/{file_format}/"
    page = f"/projects/{project.slug}/releases/{release.tag}/download/{file_format}/"
    for url in (api, page):
        assert outsider_client.get(url).status_code == 404
        assert labeler_client.get(url).status_code == 403
    assert not ReleaseExport.objects.exists()  # nothing written for them
    assert manager_client.get(api).status_code == 200


@pytest.mark.parametrize("file_format", ["parquet", "parquet-validation", "HF", "xlsx", "labelstudio.json"])
def test_unknown_formats_are_404_not_500(manager_client, project, release, file_format):
    api = manager_client.get(
        f"/api/v1/projects/{project.slug}/releases/{release.tag}/download/{file_format}/"
    )
    assert api.status_code == 404
    assert api.json()["detail"].startswith(
        f"Unknown format {file_format!r}: use jsonl, csv, json, parquet-train"
    )
    page = manager_client.get(f"/projects/{project.slug}/releases/{release.tag}/download/{file_format}/")
    assert page.status_code == 404


def test_a_release_not_ready_answers_409(manager_client, project, manager, decided):
    pending = release_create(project=project, user=manager, tag="later")
    url = f"/api/v1/projects/{project.slug}/releases/{pending.tag}/download/hf/"
    assert manager_client.get(url).status_code == 409
    assert not ReleaseExport.objects.exists()


def test_api_lists_the_downloads_and_the_page_links_them(manager_client, project, release):
    data = manager_client.get(f"/api/v1/projects/{project.slug}/releases/{release.tag}/").json()
    assert data["downloads"] == [
        "jsonl", "csv", "json", "parquet-train", "parquet-dev", "parquet-test", "hf", "labelstudio",
    ]  # fmt: skip
    page = manager_client.get(f"/projects/{project.slug}/releases/{release.tag}/").content.decode()
    for file_format in ("parquet-train", "parquet-dev", "parquet-test", "hf", "labelstudio"):
        assert f"/projects/{project.slug}/releases/{release.tag}/download/{file_format}/" in page


def test_export_dataset_command_writes_the_derived_formats(project, release, tmp_path):
    folder = tmp_path / "parquet"
    call_command(
        "export_dataset",
        "support",
        "--release",
        "v1",
        "--format",
        "parquet",
        "--out",
        str(folder),
        stdout=StringIO(),
    )
    total = sum(pq.read_table(folder / f"{split}.parquet").num_rows for split in SPLITS)
    assert total == release.n_items
    call_command(
        "export_dataset",
        "support",
        "--release",
        "v1",
        "--format",
        "hf",
        "--out",
        str(tmp_path / "hf.zip"),
        stdout=StringIO(),
    )
    assert "README.md" in zipfile.ZipFile(tmp_path / "hf.zip").namelist()
    call_command(
        "export_dataset",
        "support",
        "--release",
        "v1",
        "--format",
        "labelstudio",
        "--out",
        str(tmp_path / "ls.json"),
        stdout=StringIO(),
    )
    assert len(json.loads((tmp_path / "ls.json").read_text(encoding="utf-8"))) == 40
    with pytest.raises(CommandError, match="invalid choice"):
        call_command(
            "export_dataset", "support", "--release", "v1", "--format", "xlsx", "--out", str(tmp_path / "x")
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_first_downloads_at_once_write_the_file_once(project, manager, decided, monkeypatch):
    import threading
    import time

    from django.db import connection

    from consistency.releases import exports

    release = release_build(project=project, user=manager, tag="race")
    writes = []
    write = exports._write_labelstudio

    def counted(locked):
        writes.append(locked.pk)
        time.sleep(0.3)  # widen the window in which the other downloads arrive
        write(locked)

    monkeypatch.setattr(exports, "_write_labelstudio", counted)
    barrier = threading.Barrier(3)
    results: list = [None] * 3

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = exports.release_export_get(release=release, file_format="labelstudio")
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert writes == [release.pk]
    assert all(isinstance(r, ReleaseExport) for r in results), results
    assert {(r.pk, r.sha256) for r in results} == {(results[0].pk, results[0].sha256)}
    assert ReleaseExport.objects.filter(release=release).count() == 1


def test_the_worker_writes_the_files_after_the_build(
    project, manager, decided, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        release = release_create(project=project, user=manager, tag="worker", policy={"include_raters": True})
    release.refresh_from_db()
    assert release.status == "ready"
    written = dict(ReleaseExport.objects.filter(release=release).values_list("file_format", "bytes"))
    assert sorted(written) == sorted(["parquet-train", "parquet-dev", "parquet-test", "hf", "labelstudio"])
    assert all(size > 0 for size in written.values())


def test_nothing_is_written_for_a_release_that_is_not_ready(project, manager, decided):
    from consistency.releases.exports import release_exports_write

    pending = release_create(project=project, user=manager, tag="later")
    assert release_exports_write(release_id=pending.pk) == []
    assert not ReleaseExport.objects.exists()
