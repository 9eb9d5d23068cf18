"""The pure writers of the derived release files, without a database: metadata types in Parquet,
Label Studio tasks, the JSONL reader, and an empty release."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consistency.releases.formats import jsonl_records
from consistency.releases.formats.labelstudio import CONSENSUS_USER_ID, rater_user_id, task
from consistency.releases.formats.parquet import MetadataTypes, parquet_write, release_schema


def _types(*metadatas) -> dict:
    types = MetadataTypes()
    for metadata in metadatas:
        types.add(metadata)
    return {field.name: field.type for field in types.arrow_type()}


def test_metadata_types_are_what_the_values_have_in_common():
    assert _types({"a": True}, {"a": False}, {"a": None}) == {"a": pa.bool_()}
    assert _types({"a": 1}, {"a": 2**62}) == {"a": pa.int64()}
    assert _types({"a": 1}, {"a": 2.5}) == {"a": pa.float64()}
    # A bool is not a number here, a number beyond 64 bits is not an int64, all nulls are strings.
    assert _types({"a": 1}, {"a": True}) == {"a": pa.string()}
    assert _types({"a": 2**64}) == {"a": pa.string()}
    assert _types({"a": None}) == {"a": pa.string()}
    assert _types({"b": [1]}, {"a": "x"}) == {"a": pa.string(), "b": pa.string()}  # sorted by name
    assert MetadataTypes().arrow_type() == pa.null()


def _line(external_id, split, metadata, **extra):
    return {
        "external_id": external_id,
        "text": f"text of {external_id}",
        "label": "pos",
        "source": "unanimous",
        "split": split,
        "agreement": 1.0,
        "n_raters": 3,
        "guideline_versions": [1, 2],
        "metadata": metadata,
        **extra,
    }


def test_parquet_keeps_values_in_their_types_and_mixed_ones_as_json_text():
    lines = [
        _line("a", "train", {"n": 1, "mixed": "x", "deep": {"k": [1, "é"]}}),
        _line("b", "train", {"n": 2, "mixed": 3, "deep": None}),
        _line("c", "test", {}),
    ]
    types = MetadataTypes()
    for line in lines:
        types.add(line["metadata"])
    schema = release_schema(metadata_type=types.arrow_type(), include_rationale=False, include_raters=False)
    outputs = {split: io.BytesIO() for split in ("train", "dev", "test")}
    counts = parquet_write(lines, schema=schema, outputs=outputs)
    assert counts == {"train": 2, "dev": 0, "test": 1}
    train = pq.read_table(io.BytesIO(outputs["train"].getvalue())).to_pylist()
    assert [row["metadata"] for row in train] == [
        {"deep": '{"k": [1, "é"]}', "mixed": "x", "n": 1},
        {"deep": None, "mixed": "3", "n": 2},
    ]
    assert pq.read_table(io.BytesIO(outputs["dev"].getvalue())).num_rows == 0  # empty, with the schema
    assert pq.read_table(io.BytesIO(outputs["test"].getvalue())).to_pylist()[0]["metadata"] == {
        "deep": None,
        "mixed": None,
        "n": None,
    }


def test_label_studio_task_keeps_a_metadata_field_named_text_apart():
    line = _line(
        "e1", "dev", {"text": "a field", "lang": "en"}, raters={"r_00000000ff": "neg", "r_0000000001": "pos"}
    )
    made = task(line, release_tag="v3")
    assert made["id"] == "e1"
    assert made["data"] == {"text": "text of e1", "lang": "en"}
    assert made["meta"]["metadata_text"] == "a field"
    assert made["meta"]["release"] == "v3"
    assert [(a["completed_by"], a["result"][0]["value"]["choices"]) for a in made["annotations"]] == [
        (CONSENSUS_USER_ID, ["pos"]),
        (2, ["pos"]),
        (256, ["neg"]),
    ]
    assert rater_user_id("r_0000000001") == 2


def test_jsonl_records_reads_lines_split_across_blocks():
    lines = [{"external_id": f"x{n}", "text": "ü" * n} for n in range(50)]
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
    blocks = [data[i : i + 7] for i in range(0, len(data), 7)]
    assert list(jsonl_records(blocks)) == lines
    assert list(jsonl_records([data.rstrip(b"\n")])) == lines  # no newline at the end


@pytest.mark.django_db
def test_an_empty_release_still_downloads_in_every_format(manager_client, project, manager):
    from consistency.releases.services import release_build

    release = release_build(project=project, user=manager, tag="empty")
    assert release.n_items == 0
    base = f"/api/v1/projects/{project.slug}/releases/{release.tag}/download"
    table = pq.read_table(io.BytesIO(b"".join(manager_client.get(f"{base}/parquet-dev/").streaming_content)))
    assert table.num_rows == 0
    assert table.schema.field("metadata").type == pa.null()
    tasks = b"".join(manager_client.get(f"{base}/labelstudio/").streaming_content)
    assert json.loads(tasks) == []
    card = b"".join(manager_client.get(f"{base}/hf/").streaming_content)
    assert b"README.md" in card
