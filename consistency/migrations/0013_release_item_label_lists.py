"""Release items of multi-label projects: `labels` holds the released label names as a list, and
`label` (their names joined by "|", for the diff and the pages) becomes text, as a set of names
may be longer than one name. The new column joins the columns a ready release's items may never
change.

Altering a field makes SQLite rebuild the item table, which its triggers would not survive: they
are dropped first and created again at the end, as in migration 0011."""

import importlib

from django.db import migrations, models

_immutable = importlib.import_module("consistency.migrations.0006_dataset_release_immutable")
_cheap = importlib.import_module("consistency.migrations.0011_release_items_cheap_to_load")


def _item_trigger(schema_editor, columns: str) -> None:
    schema_editor.execute("DROP TRIGGER IF EXISTS dataset_release_item_immutable ON consistency_datasetreleaseitem"
                          if schema_editor.connection.vendor == "postgresql"
                          else "DROP TRIGGER IF EXISTS dataset_release_item_immutable")  # fmt: skip
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"""
            CREATE TRIGGER dataset_release_item_immutable
                BEFORE UPDATE OF {columns} ON consistency_datasetreleaseitem
                FOR EACH ROW EXECUTE FUNCTION consistency_dataset_release_immutable();
        """)
    else:
        schema_editor.execute(f"""
            CREATE TRIGGER dataset_release_item_immutable
            BEFORE UPDATE OF {columns} ON consistency_datasetreleaseitem
            BEGIN SELECT RAISE(ABORT, '{_immutable.MESSAGE}'); END;
        """)


def create_triggers(apps, schema_editor):
    _cheap.create_triggers(apps, schema_editor)
    _item_trigger(schema_editor, f"{_immutable.ITEM_COLUMNS}, labels")


def create_triggers_before(apps, schema_editor):
    _cheap.create_triggers(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("consistency", "0012_review_question")]

    operations = [
        migrations.RunPython(_cheap.drop_triggers, create_triggers_before),
        migrations.AlterField(
            model_name="datasetreleaseitem",
            name="label",
            field=models.TextField(
                help_text="The label's name when released (multi-label: the names joined by |)."
            ),
        ),
        migrations.AddField(
            model_name="datasetreleaseitem",
            name="labels",
            field=models.JSONField(
                blank=True, null=True, help_text="Multi-label projects: the released label names, as a list."
            ),
        ),
        migrations.RunPython(create_triggers, _cheap.drop_triggers),
    ]
