"""The next-example query stays an index walk on a large project: PostgreSQL's plan must not
scan the annotation or assignment tables, whose size grows with every label."""

import json

import pytest
from django.db import connection
from django.utils import timezone

from core.rawsql import execute, prepared_texts
from labeling.models import Assignment
from labeling.selectors import example_candidates
from projects.models import Example, Role
from tests.factories import (
    ExampleFactory,
    LabelFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    leases_run_out,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

N_EXAMPLES = 50_000
N_RATERS = 30


def _fill(project, raters, label):
    """N_EXAMPLES examples: 60% done (3 labels), 20% with 2, 10% with 1, the rest untouched,
    each label backed by a submitted assignment (about 200k annotations)."""
    rater_ids = [r.pk for r in raters]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO projects_example
                (project_id, external_id, text, data, metadata, annotation_count, created_at)
            SELECT %s, 'e' || n, 'text ' || n, '{}', '{}',
                   CASE WHEN n %% 10 < 6 THEN 3 WHEN n %% 10 < 8 THEN 2 WHEN n %% 10 < 9 THEN 1 ELSE 0 END,
                   now()
            FROM generate_series(1, %s) AS n
            """,
            [project.pk, N_EXAMPLES],
        )
        cursor.execute(
            """
            INSERT INTO labeling_assignment
                (project_id, example_id, rater_id, status, slot, expires_at, skip_reason,
                 created_at, updated_at)
            SELECT e.project_id, e.id, (%s::bigint[])[1 + (e.id + s) %% %s], 'submitted', s, NULL, '',
                   now(), now()
            FROM projects_example e, generate_series(1, 3) AS s
            WHERE e.project_id = %s AND s <= e.annotation_count
            """,
            [rater_ids, len(rater_ids), project.pk],
        )
        cursor.execute(
            """
            INSERT INTO labeling_annotation
                (example_id, rater_id, label_id, ambiguous, ambiguous_note, note, source,
                 created_at, updated_at)
            SELECT a.example_id, a.rater_id, %s, false, '', '', 'labeling', now(), now()
            FROM labeling_assignment a WHERE a.project_id = %s
            """,
            [label.pk, project.pk],
        )
        cursor.execute("ANALYZE projects_example; ANALYZE labeling_assignment; ANALYZE labeling_annotation;")


def explain(sql: str, params: list, *, generic: bool = False) -> str:
    """The plan of `sql`; with `generic`, the plan PostgreSQL keeps for it as a prepared statement
    (core.rawsql.execute) once it stops planning it per call."""
    with connection.cursor() as cursor:
        if not generic:
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        execute(cursor, sql, params)
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            cursor.execute("EXPLAIN " + prepared_texts(sql)[2], params)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET plan_cache_mode")


def test_next_example_query_uses_indexes_not_table_scans():
    project = ProjectFactory(slug="big", overlap=3)
    label = LabelFactory(project=project, shortcut_key="1")
    raters = [UserFactory(username=f"big{n}") for n in range(N_RATERS)]
    for rater in raters:
        MembershipFactory(user=rater, project=project, role=Role.LABELER)
    _fill(project, raters, label)

    # The rater with the longest history: walking it per candidate would be the expensive mistake.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rater_id FROM labeling_annotation GROUP BY rater_id ORDER BY count(*) DESC LIMIT 1"
        )
        heavy_id = cursor.fetchone()[0]
    heavy = next(rater for rater in raters if rater.pk == heavy_id)
    for count, generic in ((2, False), (1, False), (0, False), (2, True), (0, True)):
        query = example_candidates(project=project, user=heavy, annotation_count=count, now=timezone.now())
        plan = explain(*query, generic=generic)
        print(f"\n-- annotation_count={count}{' (generic plan)' if generic else ''}\n{plan}")
        assert "Seq Scan on labeling_annotation" not in plan, plan
        assert "Seq Scan on labeling_assignment" not in plan, plan
        assert "Seq Scan on projects_example" not in plan, plan
        assert "example_project_count_idx" in plan, plan
        # The rater's own history is probed per candidate through the (example, rater) indexes.
        assert "annotation_one_current_per_rater_and_example" in plan, plan
        assert "assignment_one_per_rater_and_example" in plan, plan


def _subplan_loops(plan: dict, table: str) -> int:
    """How many times the plan's probes of `table` ran (EXPLAIN ANALYZE's loops, summed)."""
    loops = plan["Actual Loops"] if plan.get("Relation Name") == table else 0
    return loops + sum(_subplan_loops(child, table) for child in plan.get("Plans", []))


def test_a_run_of_fully_leased_examples_is_crossed_without_probing_their_leases():
    """With many labelers, the head of a level is a run of examples whose last seats are leased:
    every walk crosses it. Their seat hints skip them on their own columns, so the leases are
    probed for the free example found after the run, not once per leased example."""
    from labeling.services.annotations import assignment_next

    project = ProjectFactory(slug="busy", overlap=1)
    LabelFactory(project=project, shortcut_key="1")
    examples = ExampleFactory.create_batch(60, project=project)
    raters = [UserFactory(username=f"busy{n}") for n in range(41)]
    for rater in raters:
        MembershipFactory(user=rater, project=project, role=Role.LABELER)
    for rater in raters[:40]:
        assert assignment_next(project=project, user=rater) is not None
    leased = Assignment.objects.filter(project=project, status=Assignment.Status.LEASED)
    held = set(leased.values_list("example_id", flat=True))
    assert len(held) == 40  # k = 1: each leased example is full

    sql, params = example_candidates(project=project, user=raters[40], annotation_count=0, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0][0]["Plan"]
        cursor.execute(sql, params)
        first_free = cursor.fetchone()[0]
    assert first_free == min(e.pk for e in examples if e.pk not in held)
    assert _subplan_loops(plan, "labeling_assignment") <= 3, json.dumps(plan, indent=1)

    # A hint whose leases have ended hides nothing: the exact look decides again.
    leases_run_out(leased.values_list("pk", flat=True))
    sql, params = example_candidates(project=project, user=raters[40], annotation_count=0, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert cursor.fetchone()[0] == examples[0].pk


def test_past_the_overlap_only_examples_granted_extra_raters_are_walked():
    """With adaptive overlap (k = overlap + extra raters on a split), the walk starts at the counts
    past the overlap, where most of a mature project's examples sit complete. Only examples granted
    extra raters can take a label there: the walk reads those, not every complete example."""
    project = ProjectFactory(slug="split", overlap=3, extra_raters_on_split=2)
    label = LabelFactory(project=project, shortcut_key="1")
    raters = [UserFactory(username=f"split{n}") for n in range(N_RATERS)]
    for rater in raters:
        MembershipFactory(user=rater, project=project, role=Role.LABELER)
    _fill(project, raters, label)
    split = Example.objects.filter(project=project, annotation_count=3).order_by("-id")[:2]
    split_ids = sorted(example.pk for example in split)
    Example.objects.filter(pk__in=split_ids).update(extra_raters=2)
    newcomer = UserFactory(username="split-newcomer")

    sql, params = example_candidates(project=project, user=newcomer, annotation_count=3, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0][0]["Plan"]
        cursor.execute(sql, params)
        assert cursor.fetchone()[0] == split_ids[0]
    assert _subplan_loops(plan, "labeling_assignment") <= 2, json.dumps(plan, indent=1)
    for generic in (False, True):
        assert "example_split_count_idx" in explain(sql, params, generic=generic)


def test_live_leases_are_probed_by_example_not_by_scanning_every_lease():
    """The live-lease count of a candidate reads that example's leases through the partial index
    of live leases by example. The statistics of a mature project see almost no leased rows (here:
    analyzed before anyone held one), and the planner, taking both partial indexes of leased rows
    for tiny, scanned the lease queues' index whole instead: every live lease of every labeler
    for each probe, a cost that grew with the number of people labeling."""
    from django.test.utils import CaptureQueriesContext

    from labeling.selectors import leases_held
    from labeling.services.annotations import assignment_next

    project = ProjectFactory(slug="crowd", overlap=3)
    label = LabelFactory(project=project, shortcut_key="1")
    raters = [UserFactory(username=f"crowd{n}") for n in range(N_RATERS)]
    for rater in raters:
        MembershipFactory(user=rater, project=project, role=Role.LABELER)
    _fill(project, raters, label)  # analyzed with no lease among the assignments
    for rater in raters[:-1]:
        assert assignment_next(project=project, user=rater) is not None
    assert Assignment.objects.filter(project=project, status=Assignment.Status.LEASED).count() >= N_RATERS - 1
    newcomer = raters[-1]
    for count, generic in ((2, False), (0, False), (2, True), (0, True)):
        query = example_candidates(project=project, user=newcomer, annotation_count=count, now=timezone.now())
        plan = explain(*query, generic=generic)
        assert "assignment_live_idx" in plan, plan
        assert "assignment_lease_queue_position_unique" not in plan, plan
    # A rater's own leases are read by the (project, rater, status) index.
    with CaptureQueriesContext(connection) as queries:
        leases_held(project=project, user=raters[0])
    for mode in ("auto", "force_generic_plan"):
        with connection.cursor() as cursor:
            cursor.execute(f"SET plan_cache_mode = {mode}")
            cursor.execute("EXPLAIN " + queries.captured_queries[-1]["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET plan_cache_mode")
        assert "assignment_rater_status_idx" in plan, plan
