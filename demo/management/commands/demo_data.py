"""Loads the "Support tickets" demo project: 300 messages, four labels, six people, guideline
version 1, and annotations made through the real labeling services by simulated raters of
uneven reliability, so the demo has real disagreements and examples still waiting. Then the
"Shapes" image project: 60 images drawn with Pillow, imported as a ZIP through the real media
import, labeled by the same people, with disagreements on the hard images. Then "Support topics",
a multi-label project: 40 messages that can be about several things at once, labeled as sets.
Then "Product mentions", a span project: 30 messages whose products, error codes and people are
marked as character spans, with the boundary and label slips raters make."""

import csv
import io
import random
import uuid
import zipfile

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from consistency.agreement.services import agreement_report_compute
from demo.data import GUIDELINE_V1, LABELS, RATERS, generate_messages, simulated_label
from demo.images import SHAPE_LABELS, generate_images, simulated_shape_label
from demo.multilabel import TOPIC_LABELS, generate_topic_messages, simulated_topics
from demo.spans import ENTITY_LABELS, generate_entity_messages, simulated_spans
from labeling.services.annotations import annotation_submit, assignment_next, assignment_skip
from labeling.services.decisions import disagreements_detect_all
from projects.models import Example, ImportBatch, Project, Role, TaskType
from projects.services.guidelines import guideline_draft_save, guideline_publish
from projects.services.imports import import_batch_create, import_batch_run
from projects.services.projects import label_save, membership_save, project_create

SLUG = "support-tickets"
IMAGES_SLUG = "shapes"
IMAGE_ANNOTATION_BUDGET = 150
TOPICS_SLUG = "support-topics"
TOPICS_ANNOTATION_BUDGET = 100
SPANS_SLUG = "product-mentions"
SPANS_ANNOTATION_BUDGET = 80
PASSWORD = "concord-demo"
PEOPLE = [("maya", Role.MANAGER), ("sam", Role.SME)] + [(r.username, Role.LABELER) for r in RATERS]
# Stop after this many annotations: most examples get their k labels, the rest still wait.
ANNOTATION_BUDGET = 620
PROGRESS_EVERY = 100  # annotations between two progress lines


class Command(BaseCommand):
    help = "Create the demo project with its people and annotations (does nothing if it exists)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="The port the demo is served on.")

    def handle(self, *args, **options):
        if Project.objects.filter(slug=SLUG).exists():
            self.stdout.write("The demo project already exists; nothing to load.")
        else:
            self._load()
        if not Project.objects.filter(slug=IMAGES_SLUG).exists():
            self._load_images()
        if not Project.objects.filter(slug=TOPICS_SLUG).exists():
            self._load_topics()
        if not Project.objects.filter(slug=SPANS_SLUG).exists():
            self._load_spans()
        self._print_logins(options["port"])

    def _progress(self, message: str) -> None:
        self.stdout.write(f"  {message}")
        self.stdout.flush()

    @transaction.atomic
    def _load(self) -> None:
        self._progress(f"Creating {len(PEOPLE)} demo accounts, the project and its {len(LABELS)} labels...")
        User = get_user_model()
        users = {}
        for username, _role in PEOPLE:
            user, _ = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.com"}
            )
            user.set_password(PASSWORD)
            user.save()
            users[username] = user
        project = _project_with_team(
            users,
            name="Support tickets",
            slug=SLUG,
            description="Route incoming customer messages by intent. Three labelers see each message.",
            labels=LABELS,
        )
        # Review rules: a 2-of-3 majority is accepted; an even split first asks the fourth labeler.
        project.visible_metadata = ["channel", "language"]
        project.accept_majority = True
        project.extra_raters_on_split = 1
        project.save(update_fields=["visible_metadata", "accept_majority", "extra_raters_on_split"])
        guideline_draft_save(project=project, user=users["sam"], body=GUIDELINE_V1)
        guideline_publish(
            project=project, user=users["maya"], changelog="First version of the intent guideline."
        )

        messages = generate_messages(300)
        self._progress(f"Adding {len(messages)} customer messages to label...")
        Example.objects.bulk_create(
            Example(project=project, external_id=m.external_id, text=m.text, metadata=m.metadata)
            for m in messages
        )
        by_external_id = {m.external_id: m for m in messages}
        label_ids = dict(project.labels.values_list("name", "id"))
        self._progress(f"{len(RATERS)} simulated labelers at work, through the real services...")
        self._simulate_labeling(project, users, by_external_id, label_ids)
        # Labeling already ran the disagreement rules per example; running them once more over every
        # labeled example makes the demo's queue complete whatever path the data took in.
        queued = disagreements_detect_all(project=project)
        self._progress(f"{queued} disagreements wait in the SME review queue.")
        # A first agreement report, so the dashboard has something to show from the start.
        self._progress("Computing the first agreement report...")
        agreement_report_compute(project_id=project.pk, slice_field="channel", requested_by=users["maya"])

    def _load_images(self) -> None:
        """The image project, through the same services a user's upload goes through."""
        users = {user.username: user for user in get_user_model().objects.filter(username__in=dict(PEOPLE))}
        images = generate_images()
        self._progress(f"Drawing {len(images)} shapes and importing them as a ZIP into the image project...")
        with transaction.atomic():
            project = _project_with_team(
                users,
                name="Shapes",
                slug=IMAGES_SLUG,
                description="Which shape is in the picture? Small, faint or blurred shapes make it hard.",
                labels=SHAPE_LABELS,
            )
            project.accept_majority = True
            project.save(update_fields=["accept_majority"])
        batch = import_batch_create(
            project=project,
            user=users["maya"],
            uploaded_file_or_path=io.BytesIO(_images_zip(images)),
            source_name="shapes.zip",
            run_in_background=False,
        )
        batch = import_batch_run(batch_id=batch.id)
        if batch.status != ImportBatch.Status.SUCCEEDED:
            raise RuntimeError(f"the demo images did not import: {batch.errors}")
        by_external_id = {image.external_id: image for image in images}
        label_ids = dict(project.labels.values_list("name", "id"))
        with transaction.atomic():
            self._simulate_labeling(
                project,
                users,
                by_external_id,
                label_ids,
                budget=IMAGE_ANNOTATION_BUDGET,
                choose=simulated_shape_label,
            )
            queued = disagreements_detect_all(project=project)
            self._progress(f"{queued} image disagreements wait in the SME review queue.")
            agreement_report_compute(project_id=project.pk, requested_by=users["maya"])

    def _load_topics(self) -> None:
        """The multi-label project: each rater answers a set of topics through the real services."""

        def answer(rng, rater, message, label_ids) -> dict:
            topics, ambiguous = simulated_topics(rng, rater, message)
            return {
                "labels": [label_ids[topic] for topic in topics],
                "ambiguous": ambiguous,
                "ambiguous_note": "Several topics: not sure which ones count." if ambiguous else "",
                "time_spent_ms": rng.randint(3000, 30000),
            }

        self._load_answered_project(
            kind="multi-label",
            name="Support topics",
            slug=TOPICS_SLUG,
            description="Every topic a message is about: one message can be billing and bug at once.",
            labels=TOPIC_LABELS,
            task_type=TaskType.MULTI,
            messages=generate_topic_messages(),
            budget=TOPICS_ANNOTATION_BUDGET,
            seed=5,
            answer=answer,
        )

    def _load_spans(self) -> None:
        """The span project: each rater marks entities through the real services."""

        def answer(rng, rater, message, label_ids) -> dict:
            return {"spans": simulated_spans(rng, rater, message), "time_spent_ms": rng.randint(4000, 40000)}

        self._load_answered_project(
            kind="span",
            name="Product mentions",
            slug=SPANS_SLUG,
            description="Mark every product, error code and person a message names, as spans of its text.",
            labels=ENTITY_LABELS,
            task_type=TaskType.SPANS,
            messages=generate_entity_messages(),
            budget=SPANS_ANNOTATION_BUDGET,
            seed=17,
            answer=answer,
        )

    @transaction.atomic
    def _load_answered_project(
        self, *, kind, name, slug, description, labels, task_type, messages, budget, seed, answer
    ) -> None:
        """A project of `task_type` (majorities accepted) with the demo team and `messages`, whose
        raters take turns through the real labeling services until `budget` answers, each answer's
        submit arguments from `answer(rng, rater, message, label_ids)`; then decided and reported."""
        users = {user.username: user for user in get_user_model().objects.filter(username__in=dict(PEOPLE))}
        self._progress(f"Adding the {kind} project with {len(messages)} messages...")
        project = _project_with_team(users, name=name, slug=slug, description=description, labels=labels)
        project.task_type = task_type
        project.accept_majority = True
        project.save(update_fields=["task_type", "accept_majority"])
        Example.objects.bulk_create(
            Example(project=project, external_id=m.external_id, text=m.text, metadata={}) for m in messages
        )
        by_external_id = {m.external_id: m for m in messages}
        label_ids = dict(project.labels.values_list("name", "id"))
        rng = random.Random(seed)
        done = 0
        while done < budget:
            progressed = False
            for rater in RATERS:
                assignment = assignment_next(project=project, user=users[rater.username])
                if assignment is None:
                    continue
                progressed = True
                message = by_external_id[assignment.example.external_id]
                annotation_submit(
                    project=project,
                    user=users[rater.username],
                    example_id=assignment.example_id,
                    client_token=uuid.uuid4(),
                    **answer(rng, rater, message, label_ids),
                )
                done += 1
            if not progressed:
                break
        queued = disagreements_detect_all(project=project)
        self._progress(f"{queued} {kind} disagreements wait in the SME review queue.")
        agreement_report_compute(project_id=project.pk, requested_by=users["maya"])

    def _simulate_labeling(
        self, project, users, by_external_id, label_ids, budget=ANNOTATION_BUDGET, choose=None
    ) -> None:
        rng = random.Random(11)
        done = 0
        while done < budget:
            progressed = False
            for rater in RATERS:
                assignment = assignment_next(project=project, user=users[rater.username])
                if assignment is None:
                    continue
                progressed = True
                example = assignment.example
                if rng.random() < 0.02:
                    assignment_skip(
                        project=project,
                        user=users[rater.username],
                        example_id=example.pk,
                        reason="Not sure what the customer means.",
                    )
                    continue
                if choose is None:
                    label, ambiguous = simulated_label(rng, rater, by_external_id[example.external_id])
                else:
                    label, ambiguous = choose(rng, rater, by_external_id[example.external_id]), False
                annotation_submit(
                    project=project,
                    user=users[rater.username],
                    example_id=example.pk,
                    label_id=label_ids[label],
                    client_token=uuid.uuid4(),
                    ambiguous=ambiguous,
                    ambiguous_note="Two intents in one message." if ambiguous else "",
                    time_spent_ms=rng.randint(2500, 25000),
                )
                done += 1
                if done % PROGRESS_EVERY == 0:
                    self._progress(f"{done} of about {budget} labels")
            if not progressed:
                break

    def _print_logins(self, port: int) -> None:
        self.stdout.write(self.style.SUCCESS(f"\nConcord demo: http://127.0.0.1:{port}/"))
        self.stdout.write(f"Every demo account's password is: {PASSWORD}")
        for username, role in PEOPLE:
            self.stdout.write(f"  {username:<6} {Role(role).label}")
        self.stdout.write("")


def _images_zip(images) -> bytes:
    """The demo images as a user would upload them: PNG files and a manifest.csv."""
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["file", "id", "difficulty"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for image in images:
            name = f"images/{image.external_id.lower()}.png"
            archive.writestr(name, image.png)
            writer.writerow([name, image.external_id, f"{image.difficulty:.2f}"])
        archive.writestr("manifest.csv", manifest.getvalue())
    return buffer.getvalue()


def _project_with_team(users: dict, *, name: str, slug: str, description: str, labels) -> Project:
    """A demo project created by maya (overlap 3), with the whole demo team and these labels
    ((name, key, colour, description) tuples), through the services a manager's pages use."""
    project = project_create(name=name, slug=slug, creator=users["maya"], overlap=3, description=description)
    for username, role in PEOPLE[1:]:
        membership_save(project=project, actor=None, username=username, role=role)
    for position, (label_name, key, colour, label_description) in enumerate(labels):
        label_save(
            project=project,
            name=label_name,
            shortcut_key=key,
            colour=colour,
            description=label_description,
            position=position,
        )
    return project
