"""Release items become cheap to load (a build writes up to millions at once): no database foreign
keys (one deferred check per row and key cost more than the load itself; Django's on_delete still
cascades and nulls), no index of their own on the release (the unique (release, external_id)
index serves it), and on PostgreSQL the "no item joins a ready release" check runs once per
statement over the inserted rows instead of once per row. Existing items keep every value.

Altering the fields makes SQLite rebuild the item table, which its triggers would not survive:
the triggers are dropped first and created again at the end (SQLite keeps its per-row ones)."""

import importlib

import django.db.models.deletion
from django.db import migrations, models

_immutable = importlib.import_module("consistency.migrations.0006_dataset_release_immutable")


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        _immutable.create_triggers(apps, schema_editor)
        return
    schema_editor.execute(f"""
        CREATE FUNCTION consistency_dataset_release_immutable() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION '{_immutable.MESSAGE}';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER dataset_release_immutable
            BEFORE UPDATE OF {_immutable.RELEASE_COLUMNS} ON consistency_datasetrelease
            FOR EACH ROW WHEN (OLD.status = 'ready')
            EXECUTE FUNCTION consistency_dataset_release_immutable();
        CREATE TRIGGER dataset_release_item_immutable
            BEFORE UPDATE OF {_immutable.ITEM_COLUMNS} ON consistency_datasetreleaseitem
            FOR EACH ROW EXECUTE FUNCTION consistency_dataset_release_immutable();
        CREATE FUNCTION consistency_dataset_release_items_inserted() RETURNS trigger AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM consistency_datasetrelease
                       WHERE status = 'ready' AND id IN (SELECT DISTINCT release_id FROM inserted)) THEN
                RAISE EXCEPTION '{_immutable.MESSAGE}';
            END IF;
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER dataset_release_item_insert
            AFTER INSERT ON consistency_datasetreleaseitem
            REFERENCING NEW TABLE AS inserted
            FOR EACH STATEMENT EXECUTE FUNCTION consistency_dataset_release_items_inserted();
    """)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        _immutable.drop_triggers(apps, schema_editor)
        return
    schema_editor.execute(
        "DROP TRIGGER IF EXISTS dataset_release_immutable ON consistency_datasetrelease;"
        "DROP TRIGGER IF EXISTS dataset_release_item_immutable ON consistency_datasetreleaseitem;"
        "DROP TRIGGER IF EXISTS dataset_release_item_insert ON consistency_datasetreleaseitem;"
        "DROP FUNCTION IF EXISTS consistency_dataset_release_immutable();"
        "DROP FUNCTION IF EXISTS consistency_dataset_release_items_inserted();"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("consistency", "0010_release_exports"),
        ("projects", "0006_importbatch_background_job"),
    ]

    operations = [
        migrations.RunPython(_immutable.drop_triggers, _immutable.create_triggers),
        migrations.AlterField(
            model_name="datasetreleaseitem",
            name="example",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="projects.example",
            ),
        ),
        migrations.AlterField(
            model_name="datasetreleaseitem",
            name="release",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="items",
                to="consistency.datasetrelease",
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
