from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="example",
            name="extra_raters",
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
    ]
