"""The guideline diff: escaped HTML with <del>/<ins> that gives back both versions exactly, word
counts that match the edit, and near-linear work for any guideline within the size limit."""

import html
import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from projects import guideline_diff
from projects.guideline_diff import diff_guideline_text, sequence_opcodes
from projects.services.guidelines import MAX_GUIDELINE_CHARS

INSERTED = re.compile(r"<ins>(.*?)</ins>", re.DOTALL)
DELETED = re.compile(r"<del>(.*?)</del>", re.DOTALL)


def old_side(markup: str) -> str:
    return html.unescape(DELETED.sub(r"\1", INSERTED.sub("", markup)))


def new_side(markup: str) -> str:
    return html.unescape(INSERTED.sub(r"\1", DELETED.sub("", markup)))


def numbered_text(n_words: int, words_per_line: int = 14) -> list[str]:
    """Distinct words, so the shortest edit is known exactly."""
    return [f"w{i}" + ("\n" if (i + 1) % words_per_line == 0 else " ") for i in range(n_words)]


def test_changes_are_marked_and_all_text_is_escaped():
    diff = diff_guideline_text("Label <b>bugs</b> as bug.\n", "Label <b>crashes</b> as bug.\n")
    assert (
        str(diff.html)
        == "Label <del>&lt;b&gt;bugs&lt;/b&gt;</del><ins>&lt;b&gt;crashes&lt;/b&gt;</ins> as bug.\n"
    )
    assert diff.stats == {"added": 1, "removed": 1}


def test_windows_line_ends_are_not_a_change():
    diff = diff_guideline_text("one\r\ntwo\r\n", "one\ntwo\n")
    assert (str(diff.html), diff.stats) == ("one\ntwo\n", {"added": 0, "removed": 0})


def test_added_and_removed_lines():
    diff = diff_guideline_text("# Title\n\nKeep.\nGone now.\n", "# Title\n\nNew rule.\nKeep.\n")
    assert old_side(diff.html) == "# Title\n\nKeep.\nGone now.\n"
    assert new_side(diff.html) == "# Title\n\nNew rule.\nKeep.\n"
    assert diff.stats == {"added": 2, "removed": 2}


@settings(max_examples=300, deadline=None)
@given(
    old=st.lists(st.sampled_from(["a", "b", "c", " ", "\n", "<x>", "&"]), max_size=40).map("".join),
    new=st.lists(st.sampled_from(["a", "b", "c", "d", " ", "\n", "<x>", "&"]), max_size=40).map("".join),
)
def test_the_markup_gives_back_both_versions(old, new):
    markup = str(diff_guideline_text(old, new).html)
    assert old_side(markup) == old
    assert new_side(markup) == new
    assert "<x>" not in DELETED.sub("", INSERTED.sub("", markup))  # the text's own tags stay escaped


@settings(max_examples=300, deadline=None)
@given(
    a=st.lists(st.integers(0, 5).map(str), max_size=30), b=st.lists(st.integers(0, 5).map(str), max_size=30)
)
def test_opcodes_turn_one_sequence_into_the_other(a, b):
    rebuilt, i, j = [], 0, 0
    for tag, i1, i2, j1, j2 in sequence_opcodes(a, b):
        assert (i1, j1) == (i, j)
        if tag == "equal":
            assert a[i1:i2] == b[j1:j2]
        rebuilt.extend(b[j1:j2])
        i, j = i2, j2
    assert (i, j) == (len(a), len(b))
    assert rebuilt == b


def test_two_guidelines_at_the_size_limit_differing_in_two_percent_of_words():
    rng = random.Random(17)
    tokens = re.findall(r"\s+|\S+", "".join(numbered_text(40_000))[:MAX_GUIDELINE_CHARS])
    old = "".join(tokens)
    assert len(old) == MAX_GUIDELINE_CHARS
    word_positions = [k for k, token in enumerate(tokens) if not token.isspace()]
    changed = rng.sample(word_positions, len(word_positions) // 50)
    for position in changed:
        tokens[position] = f"v{position}"
    new = "".join(tokens)

    diff = diff_guideline_text(old, new)

    assert diff.stats == {"added": len(changed), "removed": len(changed)}
    markup = str(diff.html)
    assert old_side(markup) == old
    assert new_side(markup) == new
    assert markup.count("<ins>") == len(changed)  # each changed word marked on its own


def test_pathological_guidelines_still_give_a_correct_diff():
    """Inputs with no unique line or word to anchor on: the work budget runs out and the rest is
    shown as replaced, which is still exact."""
    cases = [
        ("x\n" * 50_000, ("x\n" * 50 + "y\n") * 980),
        ("a b " * 25_000, "b a " * 25_000),
        (" ".join("a" for _ in range(50_000)), " ".join("b" if i % 50 == 0 else "a" for i in range(50_000))),
    ]
    for old, new in cases:
        markup = str(diff_guideline_text(old, new).html)
        assert old_side(markup) == old
        assert new_side(markup) == new


def test_the_edit_script_gives_up_when_its_budget_is_spent(monkeypatch):
    monkeypatch.setattr(guideline_diff, "EDIT_WORK_PER_TOKEN", 0)
    monkeypatch.setattr(guideline_diff, "EDIT_WORK_MINIMUM", 5)
    # No unique token: only the edit script could match the a's; without budget all is replaced.
    assert sequence_opcodes(list("abab"), list("baba")) == [("replace", 0, 4, 0, 4)]
    monkeypatch.setattr(guideline_diff, "EDIT_WORK_MINIMUM", 1_000)
    opcodes = sequence_opcodes(list("abab"), list("baba"))
    assert [tag for tag, *_ in opcodes] == ["delete", "equal", "insert"]  # "bab" kept: shortest edit
