"""Reading annotation files (labeling.services.imports.AnnotationFileReader): pure, no
database, and streamed: a file is read in bounded blocks, never whole."""

import io
import json

import pytest

from labeling.services.imports import AnnotationFileReader


class RecordingFile(io.BytesIO):
    """A binary file that remembers how much each read asked for."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.requests: list[int] = []

    def read(self, size=-1):
        self.requests.append(size)
        return super().read(size)

    def readinto(self, buffer):
        self.requests.append(len(buffer))
        return super().readinto(buffer)

    def readline(self, size=-1):
        self.requests.append(size)
        return super().readline(size)


def _long_csv(rows: int) -> bytes:
    lines = ["example_id,rater,label,text"] + [f"e{n // 3},r{n % 3},l{n % 2},text {n}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def _label_studio(tasks: int) -> bytes:
    items = [
        {
            "id": n,
            "data": {"text": f"task {n}", "lang": "en"},
            "annotations": [
                {
                    "completed_by": r,
                    "result": [{"type": "choices", "from_name": "c", "value": {"choices": ["a"]}}],
                }
                for r in range(3)
            ],
        }
        for n in range(tasks)
    ]
    return json.dumps(items, indent=1).encode()


@pytest.mark.parametrize(
    ("file_format", "data", "rows"),
    [
        ("csv", _long_csv(30_000), 30_000),
        ("jsonl", b"\n".join(
            json.dumps({"example_id": n // 3, "rater": f"r{n % 3}", "label": "x"}).encode()
            for n in range(30_000)
        ), 30_000),
        ("labelstudio", _label_studio(5_000), 15_000),
    ],
)  # fmt: skip
def test_files_are_read_as_a_stream_in_bounded_blocks(file_format, data, rows):
    assert len(data) > 600_000
    file = RecordingFile(data)
    reader = AnnotationFileReader(file, file_format)
    count = sum(1 for _ in reader)
    assert (count, reader.error_count) == (rows, 0)
    assert all(0 < size <= 256 * 1024 for size in file.requests), max(file.requests)
    assert len(file.requests) > 2  # many reads, not one


def test_rows_carry_the_line_the_account_and_the_original_name():
    data = b'example_id,rater,label,text,source\n7,Mary O\'Neil,bug,"multi\nline",web\n7, li ,bug,,app\n'
    rows = list(AnnotationFileReader(io.BytesIO(data), "csv"))
    (seq1, line1, task1, eid1, rater1, name1, label1, labels1, spans1, text1, meta1), second = rows
    assert (seq1, line1, task1, eid1, label1, labels1, text1, meta1) == (
        1,
        2,
        0,
        "7",
        "bug",
        "",  # no label set: a single-label row
        "multi\nline",
        '{"source": "web"}',
    )
    assert rater1.startswith("mary-oneil-")
    assert name1 == "Mary O'Neil"
    assert second[1] == 4  # the line the row starts on, after a value spanning two lines
    assert (second[4], second[5], second[8]) == ("li", "li", "")


def test_label_studio_rows_use_the_task_id_and_the_user_id():
    data = json.dumps(
        [{"id": "abc", "data": {"text": "t", "k": 1}, "annotations": [
            {"completed_by": {"id": 5, "email": "e@x.org"}, "result": [
                {"type": "choices", "value": {"choices": ["yes"]}}]},
            {"completed_by": 6, "was_cancelled": True},
        ]}]
    ).encode()  # fmt: skip
    reader = AnnotationFileReader(io.BytesIO(data), "labelstudio")
    (row,) = list(reader)
    # A Label Studio annotation is staged both as its one label and as a set (the project's task
    # type decides which is used).
    assert row[2:] == (1, "abc", "labelstudio-5", "e@x.org", "yes", '["yes"]', "", "t", '{"k": 1}')
    assert reader.cancelled == 1


def test_several_controls_are_one_error_naming_them_all_even_after_fifty_row_errors():
    tasks = [{"id": n, "data": {}, "annotations": [{"completed_by": "x", "result": []}]} for n in range(60)]
    tasks.append(
        {"id": 99, "data": {}, "annotations": [{"completed_by": 1, "result": [
            {"type": "choices", "from_name": "a", "value": {"choices": ["1"]}},
            {"type": "choices", "from_name": "b", "value": {"choices": ["2"]}},
        ]}]}
    )  # fmt: skip
    reader = AnnotationFileReader(io.BytesIO(json.dumps(tasks).encode()), "labelstudio")
    assert list(reader) == []
    # Per task, a rater that is not a user id (an empty result is no entities to a span project:
    # a single-label project refuses it once it is known), and the controls once.
    assert reader.error_count == 61
    assert len(reader.errors) == 50
    assert reader.errors[0].column == "from_name"
    assert "several choices controls ('a', 'b')" in reader.errors[0].message
