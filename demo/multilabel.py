"""The demo's multi-label project: support messages that can be about several things at once
(charged twice *and* the app crashed), and simulated raters who miss a topic now and then or add
one that is not there, so the per-label majority, unanimous sets and real disagreements all show."""

from __future__ import annotations

import random
from dataclasses import dataclass

from demo.data import SimulatedRater

TOPIC_LABELS = [
    ("billing", "1", "#4c78a8", "Money: charges, refunds, invoices, plans and prices."),
    ("bug", "2", "#e45756", "Something does not work as it should: errors, crashes, wrong results."),
    ("account", "3", "#54a24b", "Logging in, passwords, profile, deleting or merging accounts."),
    ("feature request", "4", "#eeca3b", "Asks for something the product does not do yet."),
]

# One sentence per topic; a message joins the sentences of its topics.
SENTENCES = {
    "billing": [
        "I was charged twice this month.",
        "Where can I download last year's invoices?",
        "Please refund the annual plan I bought by mistake.",
        "The price on my receipt is not the one on your website.",
    ],
    "bug": [
        "The app crashes as soon as I open the settings.",
        "Export to CSV gives an empty file.",
        "The dashboard shows yesterday's numbers twice.",
        "Notifications arrive an hour late.",
    ],
    "account": [
        "I cannot log in since I changed my email address.",
        "The password reset link says it has expired.",
        "Please merge my two accounts.",
        "How do I delete my profile?",
    ],
    "feature request": [
        "It would be great to have a dark mode.",
        "Could you add an export to Excel?",
        "Please let us schedule reports every Monday.",
        "A keyboard shortcut for search would help.",
    ],
}
# Topic sets the demo's messages are drawn from: mostly one or two topics, a few of three.
TOPIC_SETS = [
    ("billing",), ("bug",), ("account",), ("feature request",),
    ("billing", "bug"), ("billing", "bug"), ("bug", "account"), ("billing", "account"),
    ("bug", "feature request"), ("billing", "bug", "account"),
]  # fmt: skip


@dataclass(frozen=True)
class TopicMessage:
    external_id: str
    text: str
    topics: tuple[str, ...]


def generate_topic_messages(n: int = 40, seed: int = 23) -> list[TopicMessage]:
    rng = random.Random(seed)
    messages = []
    for i in range(n):
        topics = rng.choice(TOPIC_SETS)
        text = " ".join(rng.choice(SENTENCES[topic]) for topic in topics)
        messages.append(TopicMessage(external_id=f"M-{i + 1:03d}", text=text, topics=topics))
    return messages


def simulated_topics(
    rng: random.Random, rater: SimulatedRater, message: TopicMessage
) -> tuple[list[str], bool]:
    """The set this rater would choose, and whether they flag the message as ambiguous: each true
    topic kept with their accuracy, now and then a topic that is not there, and on messages with
    several topics sometimes only the one that caught their eye (or a flag: which ones count?)."""
    if len(message.topics) > 1 and rng.random() < 0.3:
        return [rng.choice(message.topics)], rng.random() < 0.3
    chosen = [topic for topic in message.topics if rng.random() < rater.accuracy]
    extra_chance = (1 - rater.accuracy) * (1.5 if len(message.topics) > 1 else 0.8)
    for topic, *_ in TOPIC_LABELS:
        if topic not in message.topics and rng.random() < extra_chance / 2:
            chosen.append(topic)
    return chosen or [rng.choice(message.topics)], False  # a rater always answers something
