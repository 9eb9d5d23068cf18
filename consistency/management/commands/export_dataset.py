"""`manage.py export_dataset SLUG --format jsonl|csv|parquet|hf|labelstudio|conll --out FILE
[--release TAG | policy options]`: write a release's clean labels to FILE.

Without --release a new release is cut now, by the same service the background worker runs,
under the policy the options give (the same fields as the releases page and the API; the defaults
are the policy's). A new release with no example is refused (nothing is kept or written, exit
status 1) unless --allow-empty asks for one; the message says why the project has none. The file
written is the release's stored file, byte for byte. The derived formats (consistency.releases.
exports) are written into storage on first use like a download: parquet writes FILE as a folder
holding train.parquet, dev.parquet and test.parquet; hf a zip; labelstudio a JSON array; conll
(span projects only) CoNLL-style BIO, a token and its tag per line.
"""

import argparse
import os
import shutil

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from consistency.releases.exports import release_export_get
from consistency.releases.formats import SPLITS
from consistency.releases.policy import SOURCES, ReleasePolicy
from consistency.releases.selectors import release_file_get, release_get
from consistency.releases.services import EmptyRelease, release_build
from core.errors import ApplicationError
from labeling.selectors import decision_counts
from projects.models import Project, TaskType

POLICY_OPTIONS = (
    "sources",
    "min_agreement",
    "exclude_ambiguous",
    "include_rationale",
    "include_raters",
    "min_posterior",
    "split",
    "stratify_field",
    "seed",
)


def _split(value: str) -> list[float]:
    message = f"three numbers for train,dev,test are expected (e.g. 0.8,0.1,0.1), not {value!r}"
    try:
        ratios = [float(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if len(ratios) != 3:
        raise argparse.ArgumentTypeError(message)
    return ratios


def _unit_interval():
    def parse(value: str) -> float:
        message = f"a number between 0 and 1 is expected, not {value!r}"
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(message) from None
        if not 0.0 <= number <= 1.0:
            raise argparse.ArgumentTypeError(message)
        return number

    return parse


class Command(BaseCommand):
    help = (
        "Write a dataset release of a project to a file: an existing one (--release TAG), or a new one "
        "cut now under the policy the other options give."
    )

    def add_arguments(self, parser):
        defaults = ReleasePolicy()
        parser.add_argument("slug", help="The project's slug.")
        parser.add_argument(
            "--format",
            dest="file_format",
            choices=["jsonl", "csv", "parquet", "hf", "labelstudio", "conll"],
            default="jsonl",
            help="jsonl, csv; parquet (one file per split, in the folder --out), hf (a Hugging Face "
            "dataset: a zip with a dataset card), labelstudio (Label Studio tasks, JSON), conll (span "
            "projects: CoNLL-style BIO, a token and its tag per line).",
        )
        parser.add_argument("--out", required=True, help="The file to write (parquet: a folder).")
        parser.add_argument("--release", default="", metavar="TAG", help="An existing release's tag.")
        parser.add_argument("--tag", default="", help="The tag of the new release (default: the next vN).")
        policy = parser.add_argument_group("policy of a new release (as on the releases page)")
        policy.add_argument(
            "--sources",
            default=None,
            metavar="LIST",
            help=f"Comma-separated, from {', '.join(SOURCES)} (default {','.join(defaults.sources)}).",
        )
        policy.add_argument(
            "--min-agreement",
            type=_unit_interval(),
            default=None,
            metavar="X",
            help="Keep only examples whose raters agree at least this much, 0-1 (gold always passes; "
            f"default {defaults.min_agreement:g}).",
        )
        ambiguous = policy.add_mutually_exclusive_group()
        ambiguous.add_argument(
            "--exclude-ambiguous",
            dest="exclude_ambiguous",
            action="store_true",
            default=None,
            help="Leave out examples a rater flagged ambiguous (the default).",
        )
        ambiguous.add_argument(
            "--include-ambiguous", dest="exclude_ambiguous", action="store_false", help="Keep them."
        )
        policy.add_argument(
            "--include-rationale",
            action="store_true",
            default=None,
            help="Add the SME's rationale of gold labels.",
        )
        policy.add_argument(
            "--include-raters",
            action="store_true",
            default=None,
            help="Add every rater's label under a stable pseudonym.",
        )
        policy.add_argument(
            "--min-posterior",
            type=_unit_interval(),
            default=None,
            metavar="X",
            help=f"Dawid-Skene only: the least posterior of a label (default {defaults.min_posterior:g}).",
        )
        policy.add_argument(
            "--split",
            type=_split,
            default=None,
            metavar="TRAIN,DEV,TEST",
            help="Split ratios summing to 1 (default {:g},{:g},{:g}).".format(*defaults.ratios),
        )
        policy.add_argument(
            "--stratify-field",
            default=None,
            metavar="FIELD",
            help="Stratify splits by label and this metadata field.",
        )
        policy.add_argument(
            "--seed", default=None, help="The seed of new examples' splits (default per project)."
        )
        parser.add_argument(
            "--allow-empty",
            action="store_true",
            help="Cut and write the release even when no example passes the policy.",
        )

    def handle(self, *args, slug: str, file_format: str, out: str, release: str, tag: str, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"No project with slug {slug!r}.")
        policy = self._policy(options)
        if file_format == "conll" and project.task_type != TaskType.SPANS:
            raise CommandError("--format conll (BIO tags) is for span projects.")
        if release:
            given = [name for name in POLICY_OPTIONS if options.get(name) is not None]
            given += ["tag"] if tag else []
            given += ["allow_empty"] if options["allow_empty"] else []
            if given:
                listed = ", ".join("--" + name.replace("_", "-") for name in given)
                raise CommandError(f"--release TAG writes an existing release; {listed}: only for a new one.")
        try:
            if release:
                found = release_get(project=project, tag=release)
            else:
                found = release_build(
                    project=project, user=None, tag=tag, policy=policy, allow_empty=options["allow_empty"]
                )
            if file_format == "parquet":
                os.makedirs(out, exist_ok=True)
                copies = [
                    (
                        release_export_get(release=found, file_format=f"parquet-{split}").file,
                        os.path.join(out, f"{split}.parquet"),
                    )
                    for split in SPLITS
                ]
            elif file_format in ("hf", "labelstudio", "conll"):
                copies = [(release_export_get(release=found, file_format=file_format).file, out)]
            else:
                copies = [(release_file_get(release=found, file_format=file_format)[0], out)]
        except EmptyRelease as exc:
            raise CommandError(f"{exc.message}\n{self._why_empty(project)}") from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        except OSError as exc:
            raise CommandError(f"Cannot write {out}: {exc.strerror}.") from None
        for name, path in copies:
            with default_storage.open(name, "rb") as source, open(path, "wb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
        counts = found.counts or {}
        # In split order: PostgreSQL's jsonb hands the keys back sorted by length.
        splits = ", ".join(f"{s} {counts.get('splits', {}).get(s, 0)}" for s in ("train", "dev", "test"))
        labels = ", ".join(f"{k} {v}" for k, v in counts.get("labels", {}).items())
        self.stdout.write(
            f"release {found.tag}: {found.n_items} examples ({splits}); labels: {labels or 'none'}\n"
            f"sha256 {found.sha256}"
        )

    @staticmethod
    def _policy(options: dict) -> dict:
        """The policy fields the options set; the others keep the policy's defaults."""
        policy = {}
        for name in POLICY_OPTIONS:
            value = options.get(name)
            if value is None:
                continue
            if name == "sources":
                value = [part.strip() for part in value.split(",") if part.strip()]
            policy["ratios" if name == "split" else name] = value
        return policy

    @staticmethod
    def _why_empty(project: Project) -> str:
        counts = decision_counts(project=project)
        return (
            f"The project has {counts['examples']} examples, {counts['annotated']} with annotations: "
            f"{counts['gold']} gold, {counts['unanimous']} unanimous and {counts['majority']} majority "
            f"labels, {counts['excluded']} excluded as ambiguous, {counts['queued']} waiting in the review "
            f"queue and {counts['undecided']} without a decision yet (too few raters). Pass --allow-empty "
            "to write an empty release anyway."
        )
