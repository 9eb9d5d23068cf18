"""Guidelines move into projects: the models' state only. The tables keep their names
(consistency_guidelineversion, consistency_guidelinedraft), which the immutability triggers use, so the
database does not change and no row moves."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0004_importbatch_options_summary_decisions'),
        ('consistency', '0007_relabel_request'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
            migrations.CreateModel(
                name='GuidelineVersion',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('number', models.PositiveIntegerField()),
                    ('body', models.TextField(help_text='Markdown.')),
                    ('changelog', models.CharField(max_length=500)),
                    ('published_at', models.DateTimeField(auto_now_add=True)),
                    ('author', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='guideline_versions', to='projects.project')),
                ],
                options={
                    'db_table': 'consistency_guidelineversion',
                    'ordering': ['project', '-number'],
                    'get_latest_by': 'number',
                },
            ),
            migrations.CreateModel(
                name='GuidelineDraft',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('body', models.TextField(blank=True)),
                    ('updated_at', models.DateTimeField(auto_now=True)),
                    ('project', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='guideline_draft', to='projects.project')),
                    ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ('based_on', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='projects.guidelineversion')),
                ],
                options={
                    'db_table': 'consistency_guidelinedraft',
                },
            ),
            migrations.AddConstraint(
                model_name='guidelineversion',
                constraint=models.UniqueConstraint(fields=('project', 'number'), name='guideline_version_unique'),
            ),
            migrations.AddConstraint(
                model_name='guidelineversion',
                constraint=models.CheckConstraint(condition=models.Q(('number__gte', 1)), name='guideline_version_positive'),
            ),
            ],
        ),
    ]
