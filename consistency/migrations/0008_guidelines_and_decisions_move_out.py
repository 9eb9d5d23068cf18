"""The models that moved to projects (guidelines) and labeling (consensus, disagreements) leave
consistency's state; the foreign keys that point at them follow. State only: no table changes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('consistency', '0007_relabel_request'),
        ('labeling', '0004_decisions_move_here'),
        ('projects', '0005_guidelines_move_here'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
            migrations.RemoveField(
                model_name='disagreement',
                name='example',
            ),
            migrations.RemoveField(
                model_name='disagreement',
                name='guideline_versions',
            ),
            migrations.RemoveField(
                model_name='disagreement',
                name='label_a',
            ),
            migrations.RemoveField(
                model_name='disagreement',
                name='label_b',
            ),
            migrations.RemoveField(
                model_name='disagreement',
                name='project',
            ),
            migrations.AlterField(
                model_name='resolution',
                name='disagreement',
                field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='resolutions', to='labeling.disagreement'),
            ),
            migrations.RemoveField(
                model_name='guidelinedraft',
                name='based_on',
            ),
            migrations.RemoveField(
                model_name='guidelinedraft',
                name='project',
            ),
            migrations.RemoveField(
                model_name='guidelinedraft',
                name='updated_by',
            ),
            migrations.RemoveField(
                model_name='guidelineversion',
                name='author',
            ),
            migrations.RemoveField(
                model_name='guidelineversion',
                name='project',
            ),
            migrations.AlterField(
                model_name='datasetrelease',
                name='guideline_version',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='projects.guidelineversion'),
            ),
            migrations.AlterField(
                model_name='relabelrequest',
                name='guideline_version',
                field=models.ForeignKey(help_text='The version in force.', on_delete=django.db.models.deletion.PROTECT, related_name='+', to='projects.guidelineversion'),
            ),
            migrations.DeleteModel(
                name='ConsensusLabel',
            ),
            migrations.DeleteModel(
                name='Disagreement',
            ),
            migrations.DeleteModel(
                name='GuidelineDraft',
            ),
            migrations.DeleteModel(
                name='GuidelineVersion',
            ),
            ],
        ),
    ]
