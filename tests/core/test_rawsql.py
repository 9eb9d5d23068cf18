"""core.rawsql.execute: the labeling path's hand-written statements run as prepared statements on
PostgreSQL, prepared once per connection, with the same results as a plain execute."""

import pytest
from django.db import connection, transaction

from core.rawsql import execute
from projects.models import Example
from tests.factories import ExampleFactory

pytestmark = pytest.mark.django_db

SQL = (
    f"SELECT id, external_id FROM {Example._meta.db_table} "
    "WHERE project_id = %s AND external_id LIKE 'x%%' AND id > %s ORDER BY id"
)


def prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


def run(params, sql: str = SQL) -> list[tuple]:
    with connection.cursor() as cursor:
        execute(cursor, sql, params)
        return cursor.fetchall()


def test_execute_gives_what_a_plain_execute_gives(project):
    examples = [ExampleFactory(project=project, external_id=name) for name in ("x1", "y2", "x3")]
    with connection.cursor() as cursor:
        cursor.execute(SQL, [project.pk, 0])
        plain = cursor.fetchall()
    assert plain == [(examples[0].pk, "x1"), (examples[2].pk, "x3")]
    assert run([project.pk, 0]) == plain
    assert run([project.pk, examples[0].pk]) == plain[1:]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the connection is closed and opened again
def test_a_statement_is_prepared_once_per_connection_and_outlives_a_rollback(project):
    sql = SQL + " -- this test's own statement"
    before = prepared_names()
    with transaction.atomic():
        run([project.pk, 0], sql)
        transaction.set_rollback(True)
    added = prepared_names() - before
    assert len(added) == 1  # prepared inside the rolled-back block, and still there
    run([project.pk, 0], sql)
    run([project.pk, 1], sql)
    assert prepared_names() - before == added  # not prepared again

    # A new connection has nothing prepared: the statement is prepared there on first use.
    connection.close()
    connection.connect()
    assert not prepared_names() & added
    assert run([project.pk, 0], sql) == []
    assert prepared_names() & added == added


@pytest.mark.postgres
def test_without_persistent_connections_nothing_is_prepared(project, monkeypatch):
    """A connection per request (CONN_MAX_AGE 0) would prepare every statement on every request."""
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    sql = SQL + " -- not prepared"
    before = prepared_names()
    assert run([project.pk, 0], sql) == []
    assert prepared_names() == before


@pytest.mark.postgres
@pytest.mark.parametrize("kept", [True, False])
def test_statements_sent_before_go_in_the_same_round_trip_and_the_result_is_the_last(
    project, monkeypatch, kept
):
    """`before` (a transaction's settings) runs ahead of the statement, prepared or not; the rows
    are the statement's."""
    if not kept:
        monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    example = ExampleFactory(project=project, external_id="x1")
    with transaction.atomic(), connection.cursor() as cursor:
        execute(cursor, SQL, [project.pk, 0], before="SET LOCAL jit = off; ")
        assert cursor.fetchall() == [(example.pk, "x1")]
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
    for wrong in ("SET LOCAL work_mem = '1%%'; ", "SET LOCAL jit = off"):
        with pytest.raises(ValueError, match="before"), connection.cursor() as cursor:
            execute(cursor, SQL, [project.pk, 0], before=wrong)


def test_an_instance_from_a_row_is_the_one_the_orm_loads(project):
    """model_from_row builds the instance without Model.__init__: the same values and state as the
    ORM's, deferred fields read on access, relations followed, and a save updates the row."""
    from django.db.models.signals import post_init

    from core.rawsql import model_from_row

    example = ExampleFactory(project=project, external_id="x1", metadata={"channel": "email"})
    fields = ("id", "project_id", "external_id", "metadata")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, project_id, external_id, metadata FROM {Example._meta.db_table} WHERE id = %s",
            [example.pk],
        )
        row = cursor.fetchone()
    built = model_from_row(Example, fields, row)
    loaded = Example.objects.only(*fields).get(pk=example.pk)
    assert {name: getattr(built, name) for name in fields} == {name: getattr(loaded, name) for name in fields}
    assert built.metadata == {"channel": "email"}  # converted as the ORM converts it
    assert (built._state.adding, built._state.db) == (False, "default")
    assert built.get_deferred_fields() == loaded.get_deferred_fields()
    assert built.text == example.text  # deferred: read when asked for
    assert built.project == project
    built.external_id = "x2"
    built.save(update_fields=["external_id"])
    assert list(Example.objects.filter(project=project).values_list("external_id", flat=True)) == ["x2"]

    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Example)
    try:
        again = model_from_row(Example, fields, row)
    finally:
        post_init.disconnect(receiver, sender=Example)
    assert seen == [again]  # a model with init receivers is built by from_db, which runs them
