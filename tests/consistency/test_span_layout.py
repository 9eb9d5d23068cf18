"""The pure pieces of span review: lines every row shares, segments cut at span edges (a span
crossing a line is cut there, nested spans keep their outer one), candidates and the majority,
typed spans with errors by line, and a span answer as one line of Markdown."""

from consistency.review.span_layout import (
    candidates,
    contested,
    line_segments,
    majority,
    spans_markdown,
    text_lines,
    typed_spans_parse,
)

TEXT = "Ada Lovelace met Charles Babbage in London"


def test_lines_break_at_newlines_then_after_the_last_space_that_fits_and_cover_every_character():
    text = "hello world this is\nsecond line here\n\nabcdefghijkl"
    lines = text_lines(text, width=8)
    assert [text[a:b] for a, b in lines] == [
        "hello ", "world ", "this is", "second ", "line ", "here", "", "abcdefgh", "ijkl",
    ]  # fmt: skip
    covered = "".join(text[a:b] for a, b in lines)
    assert covered == text.replace("\n", "")
    assert text_lines("") == []


def test_segments_cut_at_span_edges_and_at_the_line_edge():
    spans = [(0, 12, 1), (4, 12, 2), (17, 32, 1)]
    parts = line_segments(TEXT, (0, 20), spans)
    assert [(p.text, p.span, p.opens, p.closes, p.nested) for p in parts] == [
        ("Ada ", (0, 12, 1), True, False, False),
        ("Lovelace", (4, 12, 2), True, True, True),
        (" met ", None, False, False, False),
        ("Cha", (17, 32, 1), True, False, False),  # the rest is on the next line
    ]
    rest = line_segments(TEXT, (20, len(TEXT)), spans)
    assert (rest[0].text, rest[0].opens, rest[0].closes) == ("rles Babbage", False, True)
    assert "".join(p.text for p in rest) == TEXT[20:]


def test_candidates_majority_and_contested_spans():
    votes = [("r0", [(0, 12, 1), (17, 32, 1)]), ("r1", [(0, 12, 1), (25, 32, 1)]), ("r2", [(0, 3, 1)])]
    found = candidates(votes, extra=[(36, 42, 2)])
    assert [(c.span, c.raters) for c in found] == [
        ((0, 12, 1), ["r0", "r1"]),
        ((0, 3, 1), ["r2"]),
        ((17, 32, 1), ["r0"]),
        ((25, 32, 1), ["r1"]),
        ((36, 42, 2), []),
    ]
    assert majority([spans for _, spans in votes]) == [(0, 12, 1)]
    assert contested([spans for _, spans in votes]) == 4
    assert contested([[(0, 3, 1)], [(0, 3, 1)]]) == 0


def test_typed_spans_keep_the_rest_of_the_line_as_the_label_and_name_bad_lines():
    spans, errors = typed_spans_parse("0 5 ORG\n\n  3 9  New York \nx 4 b\n3 4\n1 99999999999 ORG")
    assert [(s.line, s.start, s.end, s.label) for s in spans] == [(1, 0, 5, "ORG"), (3, 3, 9, "New York")]
    assert errors == [
        "Extra spans, line 4: the start 'x' is not a whole number of characters.",
        "Extra spans, line 5: write start, end and label, e.g. \u201c0 5 ORG\u201d.",
        "Extra spans, line 6: the end '99999999999' is not a whole number of characters.",
    ]


def test_markdown_bolds_outer_spans_lists_nested_ones_and_escapes_the_text():
    names = {1: "PERSON", 2: "PLACE"}
    assert spans_markdown(TEXT, [(0, 12, 1), (4, 12, 2), (36, 42, 2)], names) == (
        "**Ada Lovelace** `PERSON` (holding **Lovelace** `PLACE`) met Charles Babbage in **London** `PLACE`"
    )
    assert spans_markdown("a *b* [c](x) <d>", [(2, 5, 1)], names) == r"a **\*b\*** `PERSON` \[c\](x) \<d\>"
    assert spans_markdown("no entities\nhere", [], names) == "no entities here"


def test_markdown_shortens_long_stretches_around_the_spans():
    text = "x" * 300 + " Ada " + "y" * 300
    line = spans_markdown(text, [(301, 304, 1)], {1: "PERSON"})
    assert line == "\u2026" + "x" * 59 + " **Ada** `PERSON` " + "y" * 59 + "\u2026"
