"""The sentences of the data-quality loop, written in one place: why the label-issue ranking sent
an example to the review queue (the kernel gives codes, consistency.quality.label_issues)."""

from consistency.quality import label_issues as kernel

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
