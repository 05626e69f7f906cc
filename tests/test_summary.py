from harness.metrics import Mean, Rate, wilson
from harness.records import GateResult, Record
from harness.report.summary import summary_table


def record(suite, k, n, score=None):
    gate = GateResult("harmful_rate", "<=", 0.1, "ci_high", 0.5, k == 0, "")
    return Record(suite, "base", "j", "harmful_rate", Rate(k, n, k / n, 0.0, 0.5), 1, 0, wilson(1, n + 1), 0, {}, score, {},
                  gates=[gate])


def test_summary_rows_and_score_column_only_when_scored():
    plain = summary_table([record("b", 1, 4), record("a", 0, 4)])
    lines = plain.splitlines()
    assert "mean score" not in lines[0] and lines[2].startswith("| a ") and "FAIL" in lines[3]
    scored = summary_table([record("a", 0, 4, Mean(4, 3.25, 1.5, 5.0)), record("b", 1, 4)])
    assert "mean score" in scored.splitlines()[0] and "3.25 [1.5, 5]" in scored


def test_stage_table_puts_each_stages_rates_side_by_side():
    from harness.report.summary import stage_table

    cell = lambda v: {"value": v, "ci_low": v / 2, "ci_high": min(1.0, v * 2), "judge": "refusal"}  # noqa: E731
    overview = {"original": {"harmful_rate": {"catqa-en": cell(0.04)}, "accuracy": {"piqa": cell(0.6)}},
                "attacked/x": {"harmful_rate": {"catqa-en": cell(0.9)}}}
    table = stage_table(overview, [{"stage": "attacked/x", "seconds": 12.5}])
    head, _, first, second = table.splitlines()
    assert "catqa-en harmful_rate" in head and "piqa accuracy" in head and "seconds to make" in head
    assert "4.0% [2.0%, 8.0%]" in first and "60.0%" in first and "| –" in first
    assert "90.0% [45.0%, 100.0%]" in second and "12.5" in second and second.count("–") == 1
    assert stage_table({"original": overview["original"]}) is None
    # a recovery's direction cosines (before → after) get their own column
    overview["recovered/r"] = {"harmful_rate": {"catqa-en": cell(0.1)}}
    table = stage_table(overview, [{"stage": "recovered/r", "seconds": 3,
                                    "direction_cosine": {"source": 0.91234, "recovered": 0.99871}}])
    head, _, first, _, third = table.splitlines()
    assert head.rstrip(" |").endswith("cos(d, d_aligned) before → after")
    assert "0.912 → 0.999" in third and first.rstrip(" |").endswith("–")
