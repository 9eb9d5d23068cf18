"""The pure release helpers: policy validation, split assignment, canonical JSON, CSV escaping."""

import json
import random

import pytest

from consistency.releases.policy import (
    PolicyError,
    ReleasePolicy,
    SplitAssigner,
    agreement_text,
    csv_cell,
    json_array_chunks,
    json_array_size,
    jsonb_text,
    rater_pseudonym,
    split_rank,
    splits_assign,
)


def test_policy_defaults_and_validation():
    policy = ReleasePolicy.from_dict({})
    assert policy.sources == ("gold", "unanimous", "majority")
    assert policy.ratios == (0.8, 0.1, 0.1)
    assert ReleasePolicy.from_dict(policy.to_dict()) == policy
    assert "dawid_skene" in ReleasePolicy.from_dict({"use_dawid_skene": True}).sources
    for bad in (
        {"sources": []},
        {"sources": ["x"]},
        {"min_agreement": 2},
        {"ratios": [0.5, 0.5]},
        {"what": 1},
    ):
        with pytest.raises(PolicyError):
            ReleasePolicy.from_dict(bad)


def test_splits_do_not_depend_on_input_order_and_keep_previous():
    items = [(f"id{n}", "a" if n % 3 else "b") for n in range(100)]
    first = splits_assign(items=items, previous={}, ratios=(0.8, 0.1, 0.1), seed="s")
    shuffled = items[:]
    random.Random(1).shuffle(shuffled)
    assert splits_assign(items=shuffled, previous={}, ratios=(0.8, 0.1, 0.1), seed="s") == first
    previous = {"id1": "test", "id2": "dev"}
    kept = splits_assign(items=items, previous=previous, ratios=(0.8, 0.1, 0.1), seed="s")
    assert kept["id1"] == "test"
    assert kept["id2"] == "dev"
    for stratum in ("a", "b"):
        members = [eid for eid, s in items if s == stratum]
        for split, ratio in (("train", 0.8), ("dev", 0.1), ("test", 0.1)):
            assert abs(sum(kept[eid] == split for eid in members) - ratio * len(members)) <= 1


def _splits_reference(items, previous, ratios, seed):
    """The split rule as first written, all examples in memory: the reference for SplitAssigner."""
    import hashlib
    from collections import Counter, defaultdict

    splits = ("train", "dev", "test")
    strata, result, counts = defaultdict(list), {}, defaultdict(Counter)
    for eid, stratum in items:
        if previous.get(eid) in splits:
            result[eid] = previous[eid]
            counts[stratum][previous[eid]] += 1
        else:
            strata[stratum].append(eid)
    for stratum, new_ids in strata.items():
        count = counts[stratum]
        for eid in sorted(new_ids, key=lambda e: hashlib.sha256(f"{seed}\x1f{e}".encode()).digest()):
            total = sum(count.values()) + 1
            split = max(splits, key=lambda s: (ratios[splits.index(s)] * total - count[s], -splits.index(s)))
            count[split] += 1
            result[eid] = split
    return result


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.7, 0.2, 0.1), (1 / 3, 1 / 3, 1 / 3), (0.5, 0.0, 0.5)])
def test_streamed_split_assignment_matches_the_all_in_memory_rule(ratios):
    rng = random.Random(7)
    items = [(f"ex-{n}", (rng.choice("ab"), rng.choice(["", '"x"', "3"]))) for n in range(600)]
    previous = {eid: rng.choice(["train", "dev", "test"]) for eid, _ in rng.sample(items, 150)}
    expected = _splits_reference(items, previous, ratios, "seed")
    assert splits_assign(items=items, previous=previous, ratios=ratios, seed="seed") == expected
    # Streamed: each stratum's kept examples first, then its new ones by rank; strata interleaved.
    order = sorted(items, key=lambda it: (it[0] not in previous, split_rank("seed", it[0])))
    assigner = SplitAssigner(ratios)
    assert {eid: assigner.assign(stratum, previous.get(eid)) for eid, stratum in order} == expected


def test_jsonb_text_is_canonical_and_valid_json():
    value = {"bb": 1, "a": 'x\\"\n\u0001é', "ccc": [1, None, True, {"z": 0, "y": 2.5}]}
    text = jsonb_text(value)
    assert text == '{"a": "x\\\\\\"\\n\\u0001é", "bb": 1, "ccc": [1, null, true, {"y": 2.5, "z": 0}]}'
    assert json.loads(text) == value
    assert agreement_text(2 / 3) == "0.6667"
    assert agreement_text(1.0) == "1.0000"
    assert agreement_text(None) is None


def test_csv_cells_starting_like_formulas_are_quoted():
    assert [csv_cell(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "ok", None, 3)] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "ok", "", "3",
    ]  # fmt: skip


@pytest.mark.parametrize("block", [1, 2, 7, 1 << 16])
def test_json_array_from_jsonl_blocks(block):
    for lines in ([], [{"a": "x\\n"}], [{"a": 1}, {"b": "é"}, {"c": [1, 2]}]):
        jsonl = "".join(jsonb_text(line) + "\n" for line in lines).encode()
        blocks = [jsonl[i : i + block] for i in range(0, len(jsonl), block)]
        out = b"".join(json_array_chunks(blocks))
        assert json.loads(out) == lines
        assert len(out) == json_array_size(jsonl_bytes=len(jsonl), n_lines=len(lines))


def test_rater_pseudonyms_depend_on_key_and_user():
    a = rater_pseudonym(key=b"k1", user_id=7)
    assert a == rater_pseudonym(key=b"k1", user_id=7)
    assert a != rater_pseudonym(key=b"k2", user_id=7)
    assert a != rater_pseudonym(key=b"k1", user_id=8)
    assert len(a) == 12
