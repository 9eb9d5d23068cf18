"""The sentences of the data-quality loop, written in one place: why the label-issue ranking sent
an example to the review queue (the kernel gives codes, consistency.quality.label_issues), and the
verdict on a model's gap to human level (consistency.quality.statistics.gap_verdict)."""

from consistency.quality import label_issues as kernel
from consistency.quality import statistics as stats

_WHY = {
    kernel.REASON_MODEL_DISAGREES_CONFIDENTLY: "the model confidently predicts {suggested}",
    kernel.REASON_RATERS_DISAGREE: "most raters chose another label than {current}",
    kernel.REASON_MODEL_AND_RATERS_DISAGREE: (
        "the model confidently predicts {suggested} and most raters chose another label"
    ),
    kernel.REASON_RATERS_SPLIT: "the raters are split and {current} has no majority",
    kernel.REASON_MODEL_UNSURE: "the model gives {current} a low probability",
    kernel.REASON_NONE: "its label scores low on the combined evidence",
}
_METHOD = {
    kernel.METHOD_CONFIDENT_LEARNING: "confident learning on the model's probabilities",
    kernel.METHOD_CROWDLAB: "raters and model weighted by their reliability (CROWDLAB)",
    kernel.METHOD_WEIGHTED_VOTE: "raters weighted by their reliability",
}


def label_issue_sentence(
    *, reason: int, method: str, quality: float, current: str, suggested: str, model: str
) -> str:
    """E.g. "Likely label error: the model confidently predicts bug (current label billing, quality
    0.08 by confident learning on the model's probabilities of clf 2); suggested: bug."."""
    why = _WHY.get(int(reason), _WHY[kernel.REASON_NONE]).format(current=current, suggested=suggested)
    how = _METHOD.get(method, method)
    if model and method != kernel.METHOD_WEIGHTED_VOTE:
        how = f"{how}, model {model}"
    sentence = f"Likely label error: {why} (current label {current}, quality {quality:.2f} by {how})"
    return f"{sentence}; suggested: {suggested}."[:500]


def gap_sentence(*, verdict: str | None, gap: float | None, ci95: list[float] | None, n_gold: int) -> str:
    """The verdict on human level minus the model's accuracy, in words, with what it rests on."""
    if verdict is None or gap is None or ci95 is None:
        return "No verdict: the model's accuracy or human level is not known on gold examples."
    figure = f"human level minus model {gap:+.3f}, 95% interval [{ci95[0]:+.3f}, {ci95[1]:+.3f}]"
    on = f"on {n_gold} gold example{'s' if n_gold != 1 else ''}"
    if verdict == stats.GAP_TOO_FEW_GOLD:
        return (
            f"No verdict yet: {figure} {on}; a verdict needs at least {stats.MIN_GOLD_FOR_VERDICT} gold "
            "examples."
        )
    if verdict == stats.GAP_MODEL_BELOW:
        return f"The model is below human level: {figure} {on}, which excludes 0."
    if verdict == stats.GAP_MODEL_ABOVE:
        return f"The model is above human level: {figure} {on}, which excludes 0."
    return f"The model and human level cannot be told apart: {figure} {on}, which includes 0."
