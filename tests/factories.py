"""factory_boy factories for every model, in one place."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling.models import Annotation, Assignment
from projects.models import Example, GuidelineVersion, Label, Membership, Project, Role

PASSWORD = "concord-test-pw"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    description = "A test project."
    overlap = 3


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"label-{n}")
    shortcut_key = factory.Sequence(lambda n: "123456789bcdefghijklmopqrtvwxyz"[n % 31])
    position = factory.Sequence(lambda n: n)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = Role.LABELER


class ExampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Example

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"ex-{n}")
    text = factory.Sequence(lambda n: f"Customer message number {n}")
    metadata = factory.LazyFunction(lambda: {"channel": "email", "language": "en"})


class GuidelineVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GuidelineVersion

    project = factory.SubFactory(ProjectFactory)
    number = factory.Sequence(lambda n: n + 1)
    body = "# Guideline\n\nLabel each message by its main intent."
    changelog = "First version."


class AnnotationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Annotation

    example = factory.SubFactory(ExampleFactory)
    rater = factory.SubFactory(UserFactory)
    label = factory.SubFactory(LabelFactory, project=factory.SelfAttribute("..example.project"))


def leases_run_out(pks, ago: timedelta = timedelta(seconds=1)) -> None:
    """Time passes for these leases (assignment ids): they ended `ago` ago, and so did the seat
    hints of their examples, which count them until then (projects.models.Example)."""
    at = timezone.now() - ago
    leases = Assignment.objects.filter(pk__in=list(pks))
    leases.update(expires_at=at)
    Example.objects.filter(pk__in=leases.values("example_id"), seats_leased_until__gt=at).update(
        seats_leased_until=at
    )
