"""The release build streams: the rows reach the writers in batches (never all at once), the items
go in batches, and where the batches break changes no byte of the files (rows with newlines and
control characters included, which COPY's output spreads over several lines)."""

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from consistency.releases import selectors, services
from consistency.releases.writers import JsonlWriter
from labeling.models import ConsensusLabel
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db


def _read(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def test_batch_boundaries_change_no_byte(project, manager, monkeypatch):
    labels = list(project.labels.all())
    for n in range(43):
        example = ExampleFactory(
            project=project,
            external_id=f"ex-{n:02d}",
            text=["line\nbreak", 'q"uote\x01\x02', "=f", "", "é\r\n🙂"][n % 5] + f" {n}",
            metadata={"channel": ["chat", "email"][n % 2], "n": n},
        )
        ConsensusLabel.objects.create(
            example=example, label=labels[n % 4], source="majority" if n % 3 else "gold",
            agreement=None if n % 3 == 0 else 2 / 3, n_raters=3, decided_at=timezone.now(),
        )  # fmt: skip
    policy = {"seed": "s", "stratify_field": "channel", "include_rationale": True, "include_raters": True}
    batches = []
    write_rows = JsonlWriter.write_rows

    def spy(self, rows):
        batches.append(len(rows))
        return write_rows(self, rows)

    monkeypatch.setattr(JsonlWriter, "write_rows", spy)
    monkeypatch.setattr(selectors, "ROW_BATCH", 7)
    monkeypatch.setattr(services, "ITEM_BATCH", 5)
    small = services.release_build(project=project, user=manager, tag="small-batches", policy=policy)
    assert small.n_items == 43 == sum(batches)
    assert max(batches) <= 7
    assert len(batches) >= 7
    monkeypatch.undo()
    large = services.release_build(project=project, user=manager, tag="one-batch", policy=policy)
    assert (large.sha256, large.n_items, large.counts) == (small.sha256, small.n_items, small.counts)
    assert _read(large.jsonl_file) == _read(small.jsonl_file)
    assert _read(large.csv_file) == _read(small.csv_file)
    assert list(large.items.order_by("external_id").values_list("external_id", "split")) == list(
        small.items.order_by("external_id").values_list("external_id", "split")
    )
