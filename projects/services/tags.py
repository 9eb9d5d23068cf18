"""Tags on examples: managers and SMEs add and remove short words to find examples again."""

import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from core.errors import ApplicationError, NotFound
from projects.models import Example, ExampleTag, Project

TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,49}$")
MAX_TAGS_PER_EXAMPLE = 20


def tag_clean(name: str) -> str:
    name = (name or "").strip().lower()
    if not TAG_RE.match(name):
        raise ApplicationError(
            "A tag is 1-50 lowercase letters, digits, dots, dashes or underscores, "
            "starting with a letter or digit.",
            extra={"tag": ["Invalid tag."]},
        )
    return name


def _example(project: Project, example_id) -> Example:
    try:
        return project.examples.select_for_update().get(pk=example_id)
    except (Example.DoesNotExist, ValueError, TypeError):
        raise NotFound("Example not found.") from None


@transaction.atomic
def example_tag_add(*, project: Project, user: AbstractBaseUser, example_id: int, name: str) -> ExampleTag:
    name = tag_clean(name)
    example = _example(project, example_id)
    existing = example.tags.filter(name=name).first()
    if existing is not None:
        return existing
    if example.tags.count() >= MAX_TAGS_PER_EXAMPLE:
        raise ApplicationError(f"An example holds at most {MAX_TAGS_PER_EXAMPLE} tags; remove one first.")
    try:
        with transaction.atomic():
            return ExampleTag.objects.create(project=project, example=example, name=name, added_by=user)
    except IntegrityError:
        return example.tags.get(name=name)


@transaction.atomic
def example_tag_remove(*, project: Project, example_id: int, name: str) -> None:
    example = _example(project, example_id)
    example.tags.filter(name=(name or "").strip().lower()).delete()
