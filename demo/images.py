"""The demo's image project: shapes drawn with Pillow at demo time, on noise, some of them hard to
make out, and simulated raters who disagree on the hard ones (some say "can't tell")."""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from demo.data import SimulatedRater

SHAPE_LABELS = [
    ("circle", "1", "#4c78a8", "A round shape: a circle or an ellipse close to one."),
    ("square", "2", "#f58518", "Four corners: a square or a rectangle, possibly turned."),
    ("triangle", "3", "#54a24b", "Three corners."),
    ("can't tell", "4", "#9d9d9d", "The shape cannot be made out: too small, too faint or cut off."),
]
CANT_TELL = "can't tell"
SHAPES = ("circle", "square", "triangle")
SIZE = 192


@dataclass(frozen=True)
class DemoImage:
    external_id: str
    png: bytes
    shape: str
    difficulty: float  # 0 (clear) to 1 (hardly visible)


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    corners = 4 if shape == "square" else 3
    return [
        (
            cx + r * math.cos(angle + 2 * math.pi * i / corners),
            cy + r * math.sin(angle + 2 * math.pi * i / corners),
        )
        for i in range(corners)
    ]


def draw_shape(rng: random.Random, shape: str, difficulty: float) -> bytes:
    """A PNG of `shape` on grey noise; the harder, the smaller, fainter and blurrier."""
    background = rng.randint(90, 170)
    image = Image.effect_noise((SIZE, SIZE), 20 + 60 * difficulty).convert("RGB")
    image = Image.blend(Image.new("RGB", (SIZE, SIZE), (background,) * 3), image, 0.5)
    draw = ImageDraw.Draw(image)
    radius = SIZE * (0.32 - 0.22 * difficulty) * rng.uniform(0.85, 1.1)
    cx, cy = (rng.uniform(radius, SIZE - radius) for _ in range(2))
    contrast = int(120 * (1 - difficulty) + 15)
    colour = tuple(
        min(255, max(0, background + rng.choice((-1, 1)) * contrast + rng.randint(-20, 20))) for _ in range(3)
    )
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    else:
        draw.polygon(_polygon(shape, cx, cy, radius, rng.uniform(0, math.pi)), fill=colour)
    if difficulty > 0.5:
        image = image.filter(ImageFilter.GaussianBlur(radius=1 + 3 * (difficulty - 0.5)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def generate_images(n: int = 60, seed: int = 5) -> list[DemoImage]:
    rng = random.Random(seed)
    images = []
    for number in range(n):
        shape = SHAPES[number % 3]
        difficulty = rng.choice((0.05, 0.15, 0.3, 0.5, 0.75, 0.9))
        images.append(
            DemoImage(f"IMG-{1000 + number}", draw_shape(rng, shape, difficulty), shape, difficulty)
        )
    return images


def simulated_shape_label(rng: random.Random, rater: SimulatedRater, image: DemoImage) -> str:
    """What this rater says: right on clear images (as often as their accuracy), often "can't
    tell" or a wrong shape on hard ones, so the hard ones become disagreements."""
    right = rater.accuracy * (1 - 0.6 * image.difficulty)
    draw = rng.random()
    if draw < right:
        return image.shape
    if draw < right + 0.6 * image.difficulty:
        return CANT_TELL
    return rng.choice([shape for shape in SHAPES if shape != image.shape])
