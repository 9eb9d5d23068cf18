"""Tags on examples: managers and SMEs add and remove short words to find examples again."""

import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count

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


MAX_BULK_EXAMPLES = 100_000


@transaction.atomic
def example_tags_bulk(
    *,
    project: Project,
    user: AbstractBaseUser | None,
    name: str,
    example_ids: list[int],
    remove: bool = False,
) -> dict[str, int]:
    """Add (or remove) one tag on many examples of `project` at once: all or nothing.

    Every id must be an example of this project (an unknown id refuses the whole request, naming
    it). Adding skips examples that already carry the tag; removing skips those that do not. An
    example may hold at most MAX_TAGS_PER_EXAMPLE tags; one that would exceed it refuses the call.
    """
    name = tag_clean(name) if not remove else (name or "").strip().lower()
    ids = sorted({int(pk) for pk in example_ids})
    if not ids:
        raise ApplicationError("Name at least one example.", extra={"example_ids": ["Empty."]})
    if len(ids) > MAX_BULK_EXAMPLES:
        raise ApplicationError(
            f"Tag at most {MAX_BULK_EXAMPLES} examples at once.", extra={"example_ids": ["Too many."]}
        )
    found = set(Example.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    unknown = [pk for pk in ids if pk not in found]
    if unknown:
        raise ApplicationError(
            f"No example of this project has the id {unknown[0]}"
            + (f" (and {len(unknown) - 1} more)." if len(unknown) > 1 else "."),
            extra={"example_ids": [f"Unknown example id {unknown[0]}."]},
        )
    tagged = ExampleTag.objects.filter(project=project, name=name, example_id__in=ids)
    if remove:
        removed, _ = tagged.delete()
        return {"changed": removed, "unchanged": len(ids) - removed}
    already = set(tagged.values_list("example_id", flat=True))
    todo = [pk for pk in ids if pk not in already]
    full = (
        ExampleTag.objects.filter(example_id__in=todo)
        .values("example_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=MAX_TAGS_PER_EXAMPLE)
        .values_list("example_id", flat=True)[:1]
    )
    if full:
        raise ApplicationError(
            f"Example {full[0]} already holds {MAX_TAGS_PER_EXAMPLE} tags; remove one first."
        )
    ExampleTag.objects.bulk_create(
        [ExampleTag(project=project, example_id=pk, name=name, added_by=user) for pk in todo],
        batch_size=5_000,
    )
    return {"changed": len(todo), "unchanged": len(already)}
