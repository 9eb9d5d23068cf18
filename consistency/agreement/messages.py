"""Every sentence the agreement report shows people, written from the statistics' codes and numbers.

`consistency.agreement.statistics` returns numbers and codes only. The report's JSON (a sentence beside each
code), the agreement dashboard and the `agreement` command take their words from here, so they never
say different things and no sentence is patched after it is written.
"""

from __future__ import annotations

from typing import Any

from consistency.agreement import label_sets, spans
from consistency.agreement import statistics as stats

COEFFICIENT_NAMES = {
    "percent_agreement": "Percent agreement",
    "fleiss_kappa": "Fleiss' kappa",
    "krippendorff_alpha": "Krippendorff's alpha",
    "gwet_ac1": "Gwet's AC1",
}

# Why a figure is missing. The first four also stand alone as diagnostics: the data cannot show
# agreement at all.
REASONS = {
    stats.REASON_EMPTY: "There are no annotations.",
    stats.REASON_ONE_RATER: "Only one rater has labelled these items; agreement needs at least two raters.",
    stats.REASON_NO_OVERLAP: (
        "No item has been labelled by two or more raters, so there is nothing to compare."
    ),
    stats.REASON_ONE_ITEM: "Only one item has two or more ratings; agreement needs at least two such items.",
    stats.REASON_ONE_CATEGORY: (
        "Every rating uses the same label, so agreement expected by chance is total and the "
        "chance-corrected coefficient is undefined."
    ),
    stats.REASON_NO_EXPECTED_DISAGREEMENT: (
        "Expected disagreement is zero (the raters' label distributions leave no room for chance "
        "disagreement), so the coefficient is undefined."
    ),
    stats.REASON_ONE_LABEL_SCALE: (
        "The label set has a single label, so agreement cannot be chance-corrected."
    ),
    stats.REASON_LABEL_UNUSED: "No pairable rating uses this label.",
    stats.REASON_LABEL_EVERYWHERE: "Every pairable rating uses this label, so its kappa is undefined.",
    stats.REASON_NOT_PAIRED: "No example has two or more usable ratings under both versions.",
    label_sets.REASON_ONE_LABEL_SET: (
        "Every rating is the same label set, so agreement expected by chance is total and the "
        "chance-corrected coefficient is undefined."
    ),
    spans.REASON_NOT_FOR_SPANS: (
        "Not computed for spans: read span F1 (exact and overlap match) and the token-level coefficients."
    ),
    spans.REASON_NO_SPANS: (
        "No rater marked a span on the examples two or more raters labelled, so span F1 is undefined."
    ),
    label_sets.REASON_NOT_FOR_LABEL_SETS: (
        "Not computed for label sets: it would count two sets that share labels as unrelated. "
        "Read Krippendorff's alpha with the MASI distance, and the agreement per label."
    ),
}
# How the headline coefficient is named when raters choose label sets.
MASI_ALPHA_NAME = "Krippendorff's alpha (MASI distance)"


def coefficient_names(result: dict[str, Any] | None) -> dict[str, str]:
    """The coefficients' names for a report: alpha says its distance when it is MASI."""
    if (result or {}).get("distance") == label_sets.DISTANCE:
        return {**COEFFICIENT_NAMES, "krippendorff_alpha": MASI_ALPHA_NAME}
    if "span_f1" in (result or {}):
        return {
            **COEFFICIENT_NAMES,
            "krippendorff_alpha": "Krippendorff's alpha (per token)",
            "fleiss_kappa": "Fleiss' kappa (per token)",
        }
    return COEFFICIENT_NAMES


_UNDEFINED_SIDE = {stats.REASON_UNDEFINED_BEFORE: "before", stats.REASON_UNDEFINED_AFTER: "after"}

# The verdict of a before/after comparison, as the command's table says it.
VERDICT_WORDS = {
    stats.VERDICT_ROSE: "rose",
    stats.VERDICT_FELL: "fell",
    stats.VERDICT_NOT_DISTINGUISHABLE: "not distinguishable",
}


def reason_text(code: str | None) -> str | None:
    """The sentence for a reason code (None for None)."""
    return None if code is None else REASONS[code]


def estimate_with_reason(estimate: dict[str, Any]) -> dict[str, Any]:
    """A figure from the statistics with its reason in words: "reason" holds the sentence (as the
    JSON always has) and "reason_code" the code."""
    code = estimate.get("reason")
    return {**estimate, "reason": reason_text(code), "reason_code": code}


def difference_with_reason(coefficient: dict[str, Any]) -> dict[str, Any]:
    """A before/after difference with its reason in words; an undefined side says why."""
    difference = coefficient["difference"]
    code = difference.get("reason")
    side = _UNDEFINED_SIDE.get(code)
    if side is not None:
        text = f"Undefined {side}: {reason_text(coefficient[side]['reason'])}"
    else:
        text = reason_text(code)
    return {**difference, "reason": text, "reason_code": code}


def _percent(value: float) -> str:
    return f"{value:.0%}"


def diagnostic_text(diagnostic: dict[str, Any]) -> str:
    """One diagnostic in words. Raters and labels are named as the diagnostic names them (the
    report gives usernames and label names)."""
    code = diagnostic["code"]
    if code in REASONS:
        return REASONS[code]
    if code == "few_items":
        return (
            f"Only {diagnostic['n_items_overlap']} items have two or more ratings; intervals will be wide. "
            f"Aim for at least {diagnostic['min_items']} overlapping items."
        )
    if code == "wide_interval":
        names = ", ".join(COEFFICIENT_NAMES[key] for key in diagnostic["coefficients"])
        return (
            f"The 95% interval is wider than {diagnostic['max_width']} for {names}: more overlapping "
            "items are needed before drawing conclusions."
        )
    if code == "kappa_paradox":
        return (
            f'Label "{diagnostic["label"]}" makes up {_percent(diagnostic["prevalence"])} of ratings. '
            f"With such skewed prevalence, kappa ({diagnostic['kappa']:.2f}) is much lower than raw "
            f"agreement ({_percent(diagnostic['percent_agreement'])}) even when raters mostly agree; "
            "read Gwet's AC1 and per-label kappa alongside it."
        )
    if code == "outlier_rater":
        low, high = diagnostic["ci95"]
        gave = "chose the label set most other raters chose" if diagnostic.get("label_sets") else None
        return (
            f"Rater {diagnostic['rater']} {gave or 'gave the label most other raters gave'} on "
            f"{_percent(diagnostic['value'])} of {diagnostic['n']} examples (95% interval "
            f"{_percent(low)} to {_percent(high)}), against {_percent(diagnostic['rest'])} for the other "
            f"raters; the gap holds even allowing for {diagnostic['n_raters_compared']} raters compared. "
            "Check their understanding of the guidelines."
        )
    raise ValueError(f"no wording for the diagnostic {code!r}")


def signed(value: float) -> str:
    """A change with its sign, and a true minus sign: +0.12, −0.05."""
    return f"{'−' if value < 0 else '+'}{abs(value):.2f}"


def verdict_text(key: str, coefficient: dict[str, Any], comparison: dict[str, Any]) -> str:
    """One coefficient's before/after comparison in a sentence, from a report's JSON (reasons in
    words). The verdict comes only from the paired interval of the difference."""
    name = COEFFICIENT_NAMES[key]
    difference = coefficient.get("difference") or {}
    if difference.get("value") is None:
        return f"{name}: no comparison. {difference.get('reason') or ''}".strip()
    if comparison.get("too_few"):
        return f"{name}: too few examples to judge."
    ci = difference.get("ci95")
    interval = f" (95% interval {signed(ci[0])} to {signed(ci[1])})" if ci else ""
    change = signed(difference["value"])
    if coefficient.get("verdict") == stats.VERDICT_ROSE:
        return f"{name} rose by {change}{interval}."
    if coefficient.get("verdict") == stats.VERDICT_FELL:
        return f"{name} fell by {change}{interval}."
    return f"{name}: no change that can be told apart from chance ({change}{interval})."


def verdict_words(coefficient: dict[str, Any], comparison: dict[str, Any]) -> str:
    """The verdict in a few words, for a table: "rose", "fell", "not distinguishable", "too few to judge"."""
    return "too few to judge" if comparison["too_few"] else VERDICT_WORDS[coefficient["verdict"]]


def comparison_heading(comparison: dict[str, Any]) -> str:
    """What a before/after comparison rests on, in one line."""
    versions = f"v{comparison['before']} -> v{comparison['after']}"
    if comparison["n_paired"]:
        heading = f"{versions} on the same {comparison['n_paired']} examples (paired bootstrap)"
    else:
        heading = f"{versions}: no example labeled under both versions to compare"
    if comparison["n_left_out_outcome_selected"]:
        heading += (
            f"; {comparison['n_left_out_outcome_selected']} left out, sent back because their raters "
            "disagreed"
        )
    return heading


def _coefficients_with_reasons(row: dict[str, Any]) -> dict[str, Any]:
    out = {**row, **{key: estimate_with_reason(row[key]) for key in COEFFICIENT_NAMES if key in row}}
    if "span_f1" in row:
        out["span_f1"] = {name: estimate_with_reason(e) for name, e in row["span_f1"].items()}
    return out


def _comparison_with_messages(comparison: dict[str, Any]) -> dict[str, Any]:
    coefficients = {}
    for key, coefficient in comparison["coefficients"].items():
        worded = {
            **coefficient,
            "before": estimate_with_reason(coefficient["before"]),
            "after": estimate_with_reason(coefficient["after"]),
            "difference": difference_with_reason(coefficient),
        }
        coefficients[key] = {**worded, "message": verdict_text(key, worded, comparison)}
    return {**comparison, "coefficients": coefficients}


def _per_label_with_reasons(row: dict[str, Any]) -> dict[str, Any]:
    """A per-label row in words; a multi-label row also words its "alpha" and "kappa", a span
    row its "exact" and "overlap"."""
    out = estimate_with_reason(row)
    for key in ("alpha", "kappa", "exact", "overlap"):
        if isinstance(row.get(key), dict):
            out[key] = estimate_with_reason(row[key])
    return out


def report_with_messages(result: dict[str, Any]) -> dict[str, Any]:
    """The report's JSON with a sentence beside every code the statistics gave: each figure's
    "reason" in words (its code in "reason_code"), each diagnostic's "message", and each
    before/after coefficient's "message". Raters and labels must already carry their names."""
    out = _coefficients_with_reasons(result)
    out["cohen_kappa"] = [estimate_with_reason(pair) for pair in result["cohen_kappa"]]
    if "pair_alpha" in result:
        out["pair_alpha"] = [estimate_with_reason(pair) for pair in result["pair_alpha"]]
    if "span_pairs" in result:
        out["span_pairs"] = [
            {
                **pair,
                "exact": estimate_with_reason(pair["exact"]),
                "overlap": estimate_with_reason(pair["overlap"]),
            }
            for pair in result["span_pairs"]
        ]
    out["per_label"] = [_per_label_with_reasons(row) for row in result["per_label"]]
    out["diagnostics"] = [{**d, "message": diagnostic_text(d)} for d in result["diagnostics"]]
    out["by_guideline_version"] = [_coefficients_with_reasons(row) for row in result["by_guideline_version"]]
    out["before_after"] = [_comparison_with_messages(c) for c in result["before_after"]]
    if result.get("slices"):
        out["slices"] = {
            **result["slices"],
            "values": [_coefficients_with_reasons(row) for row in result["slices"]["values"]],
        }
    return out
