"""Shared fixtures: a project with labels, one client per role, and the rule that tests which
need PostgreSQL, Redis or a browser fail instead of skipping when CONCORD_REQUIRE_SERVICES=1 (CI)."""

import importlib
import os

import pytest
from django.db import connection
from django.test import Client

from projects.models import Role, TaskType

from .factories import LabelFactory, MembershipFactory, ProjectFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("CONCORD_REQUIRE_SERVICES") == "1"


def _sqlite_flush_past_the_audit_log():
    """Transactional tests empty the database between tests. PostgreSQL does it with TRUNCATE,
    which fires no row trigger; SQLite deletes row by row, which the audit log's append-only
    trigger refuses. On SQLite the flush (and only the flush) lifts the trigger and puts it back."""
    from django.db.backends.sqlite3.base import DatabaseOperations

    triggers = importlib.import_module("core.migrations.0002_audit_entry")

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if "core_auditentry" not in tables:
            return statements
        return [*triggers.SQLITE_DROP, *statements, *triggers.SQLITE_CREATE]

    DatabaseOperations.sql_flush = sql_flush


_sqlite_flush_past_the_audit_log()


def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite on two processes (pytest-xdist, --dist loadgroup). Tests that start
    a real Celery worker purge and ping the one broker queue, so they share one process, in turn."""
    for item in items:
        if item.get_closest_marker("redis"):
            item.add_marker(pytest.mark.xdist_group("celery-broker"))


def skip_or_fail(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CONCORD_REQUIRE_SERVICES=1, so this is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """Every test keeps uploads and release files in its own temporary folder, never in the
    checkout's var/: the default storage and PRIVATE_STORAGE_ROOT point there."""
    location = tmp_path / "private"
    location.mkdir()
    settings.PRIVATE_STORAGE_ROOT = location
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    return location


@pytest.fixture(autouse=True)
def _require_postgres(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture
def project(db):
    project = ProjectFactory(name="Support tickets", slug="support")
    for position, (name, key) in enumerate(
        [("billing", "1"), ("bug", "2"), ("feature", "3"), ("other", "4")]
    ):
        LabelFactory(project=project, name=name, shortcut_key=key, position=position)
    return project


@pytest.fixture
def multi_project(project):
    """`project` as a multi-label project (no "none of these" unless a test allows it)."""
    project.task_type = TaskType.MULTI
    project.save(update_fields=["task_type"])
    return project


@pytest.fixture
def other_project(db):
    project = ProjectFactory(name="Other", slug="other")
    LabelFactory(project=project, name="yes", shortcut_key="1")
    LabelFactory(project=project, name="no", shortcut_key="2")
    return project


def _member(project, role, username):
    user = UserFactory(username=username)
    MembershipFactory(user=user, project=project, role=role)
    return user


@pytest.fixture
def manager(project):
    return _member(project, Role.MANAGER, "manager")


@pytest.fixture
def sme(project):
    return _member(project, Role.SME, "sme")


@pytest.fixture
def labeler(project):
    return _member(project, Role.LABELER, "labeler")


@pytest.fixture
def make_labelers(project):
    """`make_labelers(n)`: n new labelers of `project`, named rater0, rater1, ..."""
    return lambda n: [_member(project, Role.LABELER, f"rater{i}") for i in range(n)]


@pytest.fixture
def raters(make_labelers):
    """Three labelers of `project` (rater0..rater2); a test module needing more overrides it."""
    return make_labelers(3)


@pytest.fixture
def outsider(other_project):
    """A manager of another project: may use Concord but must see nothing of `project`."""
    return _member(other_project, Role.MANAGER, "outsider")


def client_for(user) -> Client:
    """A browser of its own, logged in as `user`: each role's client keeps its own session, so a
    test can use several at once. force_login: Client.login() calls authenticate() without a
    request, which django-axes refuses (it cannot tell the address); the login page itself is
    tested with real POSTs."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager_client(manager):
    return client_for(manager)


@pytest.fixture
def sme_client(sme):
    return client_for(sme)


@pytest.fixture
def labeler_client(labeler):
    return client_for(labeler)


@pytest.fixture
def outsider_client(outsider):
    return client_for(outsider)


class _UnreachableBroker:
    """The Celery app publishes to a Redis port where nothing listens; `restore()` brings the
    test settings' broker (and inline tasks) back."""

    def __init__(self, monkeypatch):
        import socket

        from config.celery import app

        self._app = app
        self._monkeypatch = monkeypatch
        with socket.socket() as probe:  # a port that was free a moment ago: connections are refused
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{port}/0"
        # Celery reads CELERY_BROKER_WRITE_URL from the environment before its settings.
        monkeypatch.setenv("CELERY_BROKER_WRITE_URL", self.url)
        app.conf.task_always_eager = False
        self._reset_pools()

    def _reset_pools(self) -> None:
        self._app._pool = None
        self._app.amqp._producer_pool = None

    def restore(self) -> None:
        from django.conf import settings

        self._monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
        self._app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
        self._reset_pools()


@pytest.fixture
def broker_unreachable(monkeypatch):
    broker = _UnreachableBroker(monkeypatch)
    yield broker
    broker.restore()
