"""A ready dataset release is immutable: the database refuses to change its content or its items,
or to add items to it. (Deleting stays possible, for the project's cascade; a deleted example only
nulls its items' example link.)"""

from django.db import migrations

RELEASE_COLUMNS = (
    "project_id, tag, policy, status, guideline_version_id, n_items, counts, sha256, "
    "jsonl_file, jsonl_bytes, csv_file, csv_bytes"
)
ITEM_COLUMNS = "release_id, external_id, label, source, split, agreement, n_raters, guideline_versions, rationale, raters"
MESSAGE = "a ready dataset release is immutable; create a new release instead"


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"""
            CREATE FUNCTION consistency_dataset_release_immutable() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}';
            END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER dataset_release_immutable
                BEFORE UPDATE OF {RELEASE_COLUMNS} ON consistency_datasetrelease
                FOR EACH ROW WHEN (OLD.status = 'ready')
                EXECUTE FUNCTION consistency_dataset_release_immutable();
            CREATE TRIGGER dataset_release_item_immutable
                BEFORE UPDATE OF {ITEM_COLUMNS} ON consistency_datasetreleaseitem
                FOR EACH ROW EXECUTE FUNCTION consistency_dataset_release_immutable();
            CREATE FUNCTION consistency_dataset_release_item_insert() RETURNS trigger AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM consistency_datasetrelease
                           WHERE id = NEW.release_id AND status = 'ready') THEN
                    RAISE EXCEPTION '{MESSAGE}';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER dataset_release_item_insert
                BEFORE INSERT ON consistency_datasetreleaseitem
                FOR EACH ROW EXECUTE FUNCTION consistency_dataset_release_item_insert();
        """)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"""
            CREATE TRIGGER dataset_release_immutable
            BEFORE UPDATE OF {RELEASE_COLUMNS} ON consistency_datasetrelease
            FOR EACH ROW WHEN OLD.status = 'ready'
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
        """)
        schema_editor.execute(f"""
            CREATE TRIGGER dataset_release_item_immutable
            BEFORE UPDATE OF {ITEM_COLUMNS} ON consistency_datasetreleaseitem
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
        """)
        schema_editor.execute(f"""
            CREATE TRIGGER dataset_release_item_insert
            BEFORE INSERT ON consistency_datasetreleaseitem
            FOR EACH ROW WHEN (SELECT status FROM consistency_datasetrelease WHERE id = NEW.release_id) = 'ready'
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
        """)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS dataset_release_immutable ON consistency_datasetrelease;"
            "DROP TRIGGER IF EXISTS dataset_release_item_immutable ON consistency_datasetreleaseitem;"
            "DROP TRIGGER IF EXISTS dataset_release_item_insert ON consistency_datasetreleaseitem;"
            "DROP FUNCTION IF EXISTS consistency_dataset_release_immutable();"
            "DROP FUNCTION IF EXISTS consistency_dataset_release_item_insert();"
        )
    elif schema_editor.connection.vendor == "sqlite":
        for name in (
            "dataset_release_immutable",
            "dataset_release_item_immutable",
            "dataset_release_item_insert",
        ):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


class Migration(migrations.Migration):
    dependencies = [("consistency", "0005_dataset_release")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
