"""Background jobs from the command line: what waits, runs or failed; a sweep; a retry.

python manage.py jobs                   # jobs queued or running, and failed jobs a retry may fix
python manage.py jobs sweep             # what every worker does every minute (core.jobs.services)
python manage.py jobs retry KIND ID     # retry a failed job (kinds: import, decisions,
                                        # agreement_report, release)
"""

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from core.jobs.models import JobState
from core.jobs.selectors import job_is_stalled, jobs_needing_attention
from core.jobs.services import job_kind_get, job_kinds, job_retry, jobs_sweep


class Command(BaseCommand):
    help = "List background jobs that wait, run or failed; sweep them; or retry a failed one."

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=["list", "sweep", "retry"], default="list")
        parser.add_argument("kind", nargs="?", help="retry: the kind of job")
        parser.add_argument("id", nargs="?", type=int, help="retry: the job's id")

    def handle(self, *args, action, kind, id, **options):
        if action == "sweep":
            done = {name: counts for name, counts in jobs_sweep().items() if any(counts.values())}
            for name, counts in done.items():
                said = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
                self.stdout.write(f"{name}: {said}")
            if not done:
                self.stdout.write("Nothing to do: no job lost its worker or waits to be sent.")
            return
        if action == "retry":
            if not kind or id is None:
                raise CommandError("Name the job: jobs retry KIND ID.")
            try:
                spec = job_kind_get(kind)
                job = spec.jobs().filter(pk=id).first()
                if job is None:
                    raise CommandError(f"There is no {kind} job {id}.")
                job = job_retry(job=job, user=None)
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(f"{job.job_kind} {job.pk}: {job.state} ({job.progress_text or job.error})")
            return
        jobs = jobs_needing_attention(kinds=job_kinds())
        for job in jobs:
            self.stdout.write(self._line(job))
        if not jobs:
            self.stdout.write("No job is queued or running, and none failed in a way a retry may fix.")

    def _line(self, job) -> str:
        where = f"{job.job_kind} {job.pk}"
        if job.state == JobState.FAILED:
            return f"{where}: failed (retry it: manage.py jobs retry {job.job_kind} {job.pk}): {job.error}"
        text = f"{where}: {job.state}, {job.percent}%"
        if job.progress_text:
            text += f", {job.progress_text}"
        if job_is_stalled(job):
            text += f"; no heartbeat since {job.heartbeat_at or job.started_at} (the sweeper acts on it)"
        return text
