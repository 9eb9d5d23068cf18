"""Published guideline versions are append-only: the database refuses to change their content."""

from django.db import migrations

COLUMNS = "body, number, changelog, project_id, published_at"
MESSAGE = "published guideline versions are immutable; publish a new version instead"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"""
            CREATE FUNCTION consistency_guideline_version_immutable() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}';
            END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER guideline_version_immutable
                BEFORE UPDATE OF {COLUMNS} ON consistency_guidelineversion
                FOR EACH ROW EXECUTE FUNCTION consistency_guideline_version_immutable();
        """)
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(f"""
            CREATE TRIGGER guideline_version_immutable
            BEFORE UPDATE OF {COLUMNS} ON consistency_guidelineversion
            BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END;
        """)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS guideline_version_immutable ON consistency_guidelineversion;"
            "DROP FUNCTION IF EXISTS consistency_guideline_version_immutable();"
        )
    elif schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS guideline_version_immutable;")


class Migration(migrations.Migration):
    dependencies = [("consistency", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
