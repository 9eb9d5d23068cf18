"""The demo's span project: support messages that name products, error codes and people, and
simulated raters who now and then miss an entity, stretch or cut its boundaries (the classic
"the iOS app" against "iOS app"), or give it another label, so span agreement, its
boundary-vs-label breakdown, majorities and real disagreements all show."""

from __future__ import annotations

import random
from dataclasses import dataclass

from demo.data import SimulatedRater

ENTITY_LABELS = [
    ("product", "1", "#4c78a8", "A product or app of ours, as named by the customer (no leading 'the')."),
    ("error code", "2", "#e45756", "An error code or message identifier, such as E-1042."),
    ("person", "3", "#54a24b", "A person named in the message: a colleague, an agent, the customer."),
]

# Templates with {slots}; each slot is filled from its list and becomes a span with its label.
TEMPLATES = [
    "Since the update {product} shows {error} every time I open a report.",
    "{person} from your team said {product} would be fixed by Friday, but I still get {error}.",
    "Is {product} included in the team plan? {person} asked me to check.",
    "I get {error} when I export from {product} 🙁 and {error} right after.",
    "Please ask {person} to call me back about {product}.",
    "{product} and {product} no longer sync since this morning.",
    "Nothing works today: {error} in {product}.",
    "Thanks {person}, {product} works again!",
]
FILLERS = {
    # "the " goes before the entity, outside it (the guideline's rule; raters often take it in).
    "product": ["Concord Cloud", "the |iOS app", "Concord Desktop", "the |web dashboard", "Sync Pro"],
    "error": ["E-1042", "error 503", "E-2210", "ERR_TIMEOUT"],
    "person": ["Dana Whitfield", "Omar", "Ms. Okafor", "Lee Chen"],
}
SLOT_LABEL = {"product": "product", "error": "error code", "person": "person"}


@dataclass(frozen=True)
class EntityMessage:
    external_id: str
    text: str
    entities: tuple[tuple[int, int, str], ...]  # (start, end, label name), code point offsets


def _fill(rng: random.Random, template: str) -> tuple[str, list[tuple[int, int, str]]]:
    text, entities, rest, used = "", [], template, set()
    while "{" in rest:
        before, _, after = rest.partition("{")
        slot, _, rest = after.partition("}")
        text += before
        filler = rng.choice([value for value in FILLERS[slot] if value not in used])
        used.add(filler)
        lead, _, value = filler.rpartition("|")
        text += lead
        entities.append((len(text), len(text) + len(value), SLOT_LABEL[slot]))
        text += value
    return text + rest, entities


def generate_entity_messages(n: int = 30, seed: int = 31) -> list[EntityMessage]:
    rng = random.Random(seed)
    messages = []
    for i in range(n):
        text, entities = _fill(rng, TEMPLATES[i % len(TEMPLATES)])
        messages.append(EntityMessage(external_id=f"E-{i + 1:03d}", text=text, entities=tuple(entities)))
    return messages


def _moved(text: str, start: int, end: int) -> tuple[int, int]:
    """A boundary mistake: take in a leading "the ", leave out "Ms. ", or run on past the next word."""
    if text.startswith("Ms. ", start):
        return start + 4, end
    if start >= 4 and text[start - 4 : start] == "the ":
        return start - 4, end
    following = text.find(" ", end + 1)
    return start, following if following > end else end


def simulated_spans(rng: random.Random, rater: SimulatedRater, message: EntityMessage) -> list[dict]:
    """The spans this rater would mark: each true entity kept with their accuracy, otherwise
    missed, cut or stretched, or given another label; the careless now and then mark one
    more word that is no entity. Overlapping marks collapse to the first (nesting is off)."""
    chosen: list[tuple[int, int, str]] = []
    for start, end, label in message.entities:
        roll = rng.random()
        if roll < rater.accuracy:
            chosen.append((start, end, label))
            continue
        mistake = rng.random()
        if mistake < 0.35:
            continue  # missed
        if mistake < 0.75:
            chosen.append((*_moved(message.text, start, end), label))
        else:
            others = [name for name, *_ in ENTITY_LABELS if name != label]
            chosen.append((start, end, rng.choice(others)))
    if rng.random() < (1 - rater.accuracy) / 2:
        words = [(i, i + len(w)) for i, w in _words(message.text) if w[:1].isupper()]
        if words:
            chosen.append((*rng.choice(words), "product"))
    kept: list[tuple[int, int, str]] = []
    for span in sorted(chosen):
        if all(span[1] <= other[0] or other[1] <= span[0] for other in kept):
            kept.append(span)
    return [{"start": start, "end": end, "label": label} for start, end, label in kept]


def _words(text: str) -> list[tuple[int, str]]:
    words, index = [], 0
    for word in text.split(" "):
        words.append((index, word.rstrip(".,!?")))
        index += len(word) + 1
    return [(i, w) for i, w in words if w]
