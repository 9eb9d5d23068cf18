"""Gold labels and model predictions: imports (CLI), all or nothing, errors naming line and field;
the seeded gold draw and an SME's gold label."""

import random

import pytest
from django.core.management import CommandError, call_command

from projects.models import GoldLabel, Prediction, PredictionSet
from projects.services.gold import gold_label_set, gold_sample_draw
from tests.factories import ExampleFactory


@pytest.fixture
def examples(project):
    return [ExampleFactory(project=project, external_id=f"e{i}") for i in range(6)]


def _file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_gold_import_writes_labels_and_names_bad_lines(project, examples, tmp_path, capsys):
    good = _file(tmp_path, "gold.csv", "example_id,label\ne0,bug\ne1,billing\ne0,bug\n")
    call_command("import_gold", project.slug, good)
    assert dict(GoldLabel.objects.values_list("example__external_id", "label__name")) == {
        "e0": "bug",
        "e1": "billing",
    }

    bad = _file(tmp_path, "bad.csv", "example_id,label\ne2,bug\ne2,feature\nnope,bug\ne3,unknown\n")
    with pytest.raises(CommandError, match="3 errors; nothing was imported"):
        call_command("import_gold", project.slug, bad)
    err = capsys.readouterr().err
    assert "line 3, column label: example 'e2' is given 'feature' here and 'bug' on line 2" in err
    assert "line 4, column example_id" in err
    assert "line 5, column label: 'unknown' is not a label" in err
    assert GoldLabel.objects.count() == 2  # nothing of the bad file was written


def test_predictions_import_with_probabilities_and_replace(project, examples, tmp_path, capsys):
    header = "example_id,label,score,p_billing,p_bug,p_feature,p_other\n"
    first = _file(tmp_path, "m.csv", header + "e0,bug,0.9,0.1,0.7,0.1,0.1\ne1,,,0.6,0.2,0.1,0.1\n")
    call_command("import_predictions", project.slug, first, "--model", "clf", "--model-version", "1")
    rows = dict(Prediction.objects.values_list("example__external_id", "label__name"))
    assert rows == {"e0": "bug", "e1": "billing"}  # no label: the most probable one
    assert Prediction.objects.get(example__external_id="e0").probabilities == [0.1, 0.7, 0.1, 0.1]

    call_command("import_predictions", project.slug, first, "--model", "clf", "--model-version", "1")
    assert "nothing changed" in capsys.readouterr().out

    second = _file(tmp_path, "m2.csv", "example_id,label\ne2,feature\n")
    with pytest.raises(CommandError):
        call_command("import_predictions", project.slug, second, "--model", "clf", "--model-version", "1")
    assert "different file" in capsys.readouterr().err
    call_command(
        "import_predictions", project.slug, second, "--model", "clf", "--model-version", "1", "--replace"
    )
    assert list(Prediction.objects.values_list("example__external_id", flat=True)) == ["e2"]
    assert PredictionSet.objects.get().n_predictions == 1


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("example_id,label\nzzz,bug\n", "line 2, column example_id"),
        ("example_id,label\ne0,nolabel\n", "line 2, column label"),
        (
            "example_id,p_billing,p_bug,p_feature,p_other\ne0,0.5,0.5,0.5,0\n",
            "line 2, column p_*: the probabilities sum to 1.5",
        ),
        (
            "example_id,p_billing,p_bug,p_feature,p_other\ne0,1.2,-0.2,0,0\n",
            "line 2, column p_billing: the probability 1.2 is outside",
        ),
        ("example_id,p_billing,p_bug\ne0,0.5,0.5\n", "line 1, column p_feature"),
        ('{"example_id": "e0", "probabilities": {"bug": 0.5, "x": 0.5}}\n', "line 1, column p_x"),
    ],
)
def test_bad_predictions_are_refused_with_line_and_field(project, examples, tmp_path, capsys, content, where):
    name = "p.jsonl" if content.startswith("{") else "p.csv"
    with pytest.raises(CommandError):
        call_command("import_predictions", project.slug, _file(tmp_path, name, content), "--model", "m")
    assert where in capsys.readouterr().err
    assert not PredictionSet.objects.exists()
    assert not Prediction.objects.exists()


def test_gold_draw_is_seeded_and_an_sme_labels_it(project, examples, sme):
    candidates = sorted(e.pk for e in examples)
    drawn = [g.example_id for g in gold_sample_draw(project=project, user=None, size=3, seed=7)]
    assert drawn == sorted(random.Random(7).sample(candidates, 3))
    assert GoldLabel.objects.filter(label__isnull=True).count() == 3  # waiting for the SME
    label = project.labels.get(name="bug")
    gold = gold_label_set(project=project, user=sme, example_id=drawn[0], label_id=label.pk)
    assert (gold.label, gold.labeled_by, gold.source) == (label, sme, GoldLabel.Source.SAMPLED)
    more = gold_sample_draw(project=project, user=None, share=0.5, seed=1)  # 3 of 6, among the rest
    assert len(more) == 3
    assert not {g.example_id for g in more} & set(drawn)


@pytest.mark.parametrize("task_type", ["multi", "spans"])
def test_gold_and_predictions_are_refused_on_label_set_and_span_projects(
    project, examples, tmp_path, task_type
):
    from core.errors import ApplicationError
    from tests.api.conftest import token_client
    from tests.factories import MembershipFactory, UserFactory

    project.task_type = task_type
    project.save(update_fields=["task_type"])
    gold = _file(tmp_path, "gold.csv", "example_id,label\ne0,bug\n")
    with pytest.raises(CommandError, match="single-label projects only"):
        call_command("import_gold", project.slug, gold)
    with pytest.raises(CommandError, match="single-label projects only"):
        call_command("import_predictions", project.slug, gold, "--model", "clf")
    with pytest.raises(ApplicationError, match="single-label projects only"):
        gold_sample_draw(project=project, user=None, size=2, seed=1)
    manager = UserFactory(username="gold-manager")
    MembershipFactory(project=project, user=manager, role="manager")
    with open(gold, "rb") as handle:
        response = token_client(manager).post(
            f"/api/v1/projects/{project.slug}/gold/import/", {"file": handle}
        )
    assert response.status_code == 400, response.content
    assert "single-label projects only" in response.json()["file"][0]
    assert not GoldLabel.objects.exists()
    assert not PredictionSet.objects.exists()
