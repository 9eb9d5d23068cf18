"""The decision rules' tables move into labeling: state only. ConsensusLabel and Disagreement keep
their tables (consistency_consensuslabel, consistency_disagreement and its guideline-versions table),
so the database does not change and no row moves."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('labeling', '0003_annotation_superseded'),
        ('projects', '0005_guidelines_move_here'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
            migrations.AlterField(
                model_name='annotation',
                name='guideline_version',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='annotations', to='projects.guidelineversion'),
            ),
            migrations.CreateModel(
                name='ConsensusLabel',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('source', models.CharField(choices=[('gold', 'SME gold label'), ('unanimous', 'Unanimous'), ('majority', 'Accepted majority'), ('excluded', 'Excluded as genuinely ambiguous')], max_length=16)),
                    ('agreement', models.FloatField(blank=True, help_text='Share of raters who chose the label.', null=True)),
                    ('n_raters', models.PositiveSmallIntegerField(default=0)),
                    ('decided_at', models.DateTimeField()),
                    ('example', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='consensus', to='projects.example')),
                    ('label', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='projects.label')),
                ],
                options={
                    'db_table': 'consistency_consensuslabel',
                    'constraints': [models.CheckConstraint(condition=models.Q(('source__in', ['gold', 'unanimous', 'majority', 'excluded'])), name='consensus_source_valid'), models.CheckConstraint(condition=models.Q(models.Q(('label__isnull', True), ('source', 'excluded')), models.Q(models.Q(('source', 'excluded'), _negated=True), ('label__isnull', False)), _connector='OR'), name='consensus_label_matches_source')],
                },
            ),
            migrations.CreateModel(
                name='Disagreement',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('status', models.CharField(choices=[('open', 'Open'), ('resolved', 'Resolved')], default='open', max_length=16)),
                    ('reason', models.CharField(choices=[('split', 'Votes split evenly'), ('below_threshold', 'Majority below the threshold'), ('ambiguous', 'Flagged ambiguous by a rater'), ('majority_review', 'Majority sent for review')], max_length=20)),
                    ('majority_share', models.FloatField(blank=True, null=True)),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('resolved_at', models.DateTimeField(blank=True, null=True)),
                    ('example', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='disagreements', to='projects.example')),
                    ('guideline_versions', models.ManyToManyField(blank=True, related_name='disagreements', to='projects.guidelineversion')),
                    ('label_a', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='projects.label')),
                    ('label_b', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='projects.label')),
                    ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='disagreements', to='projects.project')),
                ],
                options={
                    'db_table': 'consistency_disagreement',
                    'ordering': ['project', 'created_at', 'id'],
                    'indexes': [models.Index(fields=['project', 'status', 'created_at'], name='disagreement_queue_idx')],
                    'constraints': [models.UniqueConstraint(condition=models.Q(('status', 'open')), fields=('example',), name='disagreement_one_open_per_example'), models.CheckConstraint(condition=models.Q(('status__in', ['open', 'resolved'])), name='disagreement_status_valid'), models.CheckConstraint(condition=models.Q(('reason__in', ['split', 'below_threshold', 'ambiguous', 'majority_review'])), name='disagreement_reason_valid')],
                },
            ),
            ],
        ),
    ]
