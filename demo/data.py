"""Generates the demo project's data: plausible customer-support messages with metadata, and
simulated raters of uneven reliability, so the demo shows real agreement and disagreement."""

import random
from dataclasses import dataclass

LABELS = [
    (
        "Billing",
        "1",
        "#d97706",
        "Charges, refunds, invoices, prices, payment methods and subscriptions' cost.",
    ),
    ("Technical issue", "2", "#dc2626", "Something in the product is broken, slow or behaves unexpectedly."),
    ("Feature request", "3", "#2563eb", "The customer asks for something the product does not do yet."),
    (
        "Account access",
        "4",
        "#059669",
        "Logging in, passwords, two-factor codes, locked or deleted accounts.",
    ),
]

GUIDELINE_V1 = """# Support ticket intent: labeling guideline

Label each message with the **main reason the customer wrote**. Read the whole message first.

## Billing
Anything about money: charges, double charges, refunds, invoices, VAT, price changes, payment
methods, and cancelling *because of cost*.

## Technical issue
The product is broken, slow, crashes, shows an error, or loses data. If the customer says
"it doesn't work", this is usually the label.

## Feature request
The customer asks for something new, or for an existing thing to work differently.
Complaints that something is *missing* are feature requests, not technical issues.

## Account access
Logging in, passwords, two-factor codes, locked, hacked or deleted accounts, changing the
e-mail address of an account.

## When two labels fit
Pick the one the customer needs solved first. If you really cannot decide, press **A**
(ambiguous) and say why in the note.
"""

PRODUCTS = ["the mobile app", "the web dashboard", "the desktop app", "the API", "the browser extension"]
PLANS = ["Pro plan", "Team plan", "annual plan", "Basic plan", "family plan"]
AMOUNTS = ["$9.99", "$19", "€12.50", "$49", "£7.99", "$120"]
FEATURES = [
    "dark mode",
    "CSV export",
    "a calendar view",
    "offline mode",
    "bulk editing",
    "keyboard shortcuts",
    "a Linux version",
    "shared folders",
    "an undo button",
    "two-factor login with a hardware key",
]
ERRORS = [
    "error 500",
    "a blank screen",
    "'Something went wrong'",
    "a spinning wheel forever",
    "error code E42",
]
ACTIONS = [
    "upload a file",
    "save my changes",
    "open the reports page",
    "sync my data",
    "print an invoice",
    "search my notes",
    "attach a photo",
]
OPENERS = ["Hi,", "Hello team,", "Hey!", "Good morning,", "", "", "Dear support,", "Hi there -"]
CLOSERS = ["Thanks.", "Please help!", "Thank you in advance.", "", "", "Regards, J.", "Any update?", "Cheers"]

TEMPLATES = {
    "Billing": [
        "I was charged twice for my {plan} this month ({amount} each). Please refund one.",
        "Can I get an invoice with our company VAT number for the {amount} payment?",
        "Why did the price of the {plan} go up to {amount}? Nobody told us.",
        "My card was declined but {amount} still left my account.",
        "How do I switch from monthly to the {plan} and get the discount?",
        "I cancelled last week and still got billed {amount}. I want my money back.",
        "Please remove my old credit card and use PayPal from now on.",
        "The receipt says {amount} but the pricing page said less.",
    ],
    "Technical issue": [
        "{product} crashes every time I try to {action}.",
        "When I {action} in {product} I get {error}.",
        "{product} has been really slow since yesterday's update, pages take 30 seconds.",
        "My data from last Tuesday is gone from {product}. Where did it go?",
        "Notifications stopped working on {product} after the update.",
        "I can't {action}: the button does nothing in {product}.",
        "Sync between {product} and my phone keeps failing with {error}.",
        "The export file from {product} is empty.",
    ],
    "Feature request": [
        "Please add {feature}, it would save me hours every week.",
        "Would love to see {feature} in {product}.",
        "Is {feature} on the roadmap? Our team really needs it.",
        "It's frustrating that there is no {feature}. Competitors have it.",
        "Could you make it possible to {action} from {product}?",
        "Suggestion: {feature} for the {plan}.",
        "We would upgrade to the {plan} if you had {feature}.",
    ],
    "Account access": [
        "I forgot my password and the reset email never arrives.",
        "My account is locked after too many login attempts. Please unlock it.",
        "I lost my phone and can't get the two-factor code to log in.",
        "Someone logged into my account from another country! I changed nothing.",
        "How do I change the email address on my account?",
        "I can't log in to {product}, it says my account doesn't exist.",
        "Please delete my account and all my data.",
        "The login link says it has expired every time I click it.",
    ],
}

# Messages that honestly mix two intents: these drive the demo's disagreements.
AMBIGUOUS = [
    ("Billing", "Account access", "I was charged {amount} but I can't even log in to use it."),
    ("Technical issue", "Billing", "The payment page shows {error} and now I see two pending charges."),
    (
        "Feature request",
        "Technical issue",
        "{product} doesn't let me {action}. Is that a bug or just missing?",
    ),
    ("Account access", "Technical issue", "After the update {product} logs me out every five minutes."),
    ("Billing", "Feature request", "Do you offer a cheaper plan for students? {plan} is too expensive."),
    (
        "Feature request",
        "Account access",
        "Please let me log in with my Google account instead of a password.",
    ),
    ("Technical issue", "Account access", "Password reset gives {error} every time."),
    (
        "Billing",
        "Technical issue",
        "The invoice PDF won't download, I need it for my {amount} expense claim.",
    ),
]

GERMAN = {
    "Billing": "Mir wurden {amount} doppelt abgebucht. Bitte erstatten.",
    "Technical issue": "Die App stürzt ab, wenn ich eine Datei hochlade.",
    "Feature request": "Bitte einen Dunkelmodus einbauen!",
    "Account access": "Ich kann mich nicht mehr anmelden, Passwort zurücksetzen geht nicht.",
}
SPANISH = {
    "Billing": "Me cobraron {amount} dos veces este mes.",
    "Technical issue": "La aplicación se cierra sola al abrir los informes.",
    "Feature request": "¿Podrían añadir exportación a CSV?",
    "Account access": "No recibo el código de verificación para entrar.",
}

CHANNELS = [("email", 0.45), ("chat", 0.3), ("app_review", 0.15), ("phone_transcript", 0.1)]
TIERS = [("free", 0.5), ("pro", 0.35), ("enterprise", 0.15)]


@dataclass(frozen=True)
class DemoMessage:
    external_id: str
    text: str
    metadata: dict
    true_label: str
    second_label: str | None  # set for genuinely ambiguous messages


def _weighted(rng: random.Random, choices: list[tuple[str, float]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        product=rng.choice(PRODUCTS),
        plan=rng.choice(PLANS),
        amount=rng.choice(AMOUNTS),
        feature=rng.choice(FEATURES),
        error=rng.choice(ERRORS),
        action=rng.choice(ACTIONS),
    )


def generate_messages(n: int = 300, seed: int = 7) -> list[DemoMessage]:
    rng = random.Random(seed)
    messages: list[DemoMessage] = []
    seen: set[str] = set()
    label_names = [name for name, *_ in LABELS]
    while len(messages) < n:
        language = _weighted(rng, [("en", 0.88), ("de", 0.06), ("es", 0.06)])
        second = None
        if language != "en":
            label = rng.choice(label_names)
            body = _fill(rng, (GERMAN if language == "de" else SPANISH)[label])
        elif rng.random() < 0.18:
            label, second, template = rng.choice(AMBIGUOUS)
            body = _fill(rng, template)
        else:
            label = _weighted(
                rng,
                [
                    ("Billing", 0.34),
                    ("Technical issue", 0.32),
                    ("Feature request", 0.16),
                    ("Account access", 0.18),
                ],
            )
            body = _fill(rng, rng.choice(TEMPLATES[label]))
        channel = _weighted(rng, CHANNELS)
        if language == "en" and channel in ("email", "chat"):
            body = " ".join(part for part in (rng.choice(OPENERS), body, rng.choice(CLOSERS)) if part)
        if channel == "app_review":
            body = f"{rng.randint(1, 3)} stars. {body}"
        if body in seen:
            continue
        seen.add(body)
        number = len(messages) + 1
        metadata = {
            "channel": channel,
            "language": language,
            "customer_tier": _weighted(rng, TIERS),
            "received": f"2026-10-{1 + (number * 7) % 28:02d}",
        }
        messages.append(DemoMessage(f"T-{10000 + number}", body, metadata, label, second))
    return messages


@dataclass(frozen=True)
class SimulatedRater:
    username: str
    accuracy: float  # chance of choosing the intended label on a clear message


RATERS = [
    SimulatedRater("lena", 0.93),
    SimulatedRater("omar", 0.88),
    SimulatedRater("kai", 0.8),
    SimulatedRater("ines", 0.68),
]


def simulated_label(rng: random.Random, rater: SimulatedRater, message: DemoMessage) -> tuple[str, bool]:
    """The label this rater would choose, and whether they flag the message as ambiguous."""
    label_names = [name for name, *_ in LABELS]
    if message.second_label is not None:
        choice = message.true_label if rng.random() < 0.55 else message.second_label
        return choice, rng.random() < 0.25
    if rng.random() < rater.accuracy:
        return message.true_label, False
    return rng.choice([name for name in label_names if name != message.true_label]), False
