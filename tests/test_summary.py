from harness.report.summary import summary_table


def record(suite, k, n, score=None):
    return {"suite": suite, "stage": "base", "metric": "harmful_rate", "judge": "j", "k": k, "n": n,
            "value": k / n, "ci_low": 0.0, "ci_high": 0.5, "unparsed": 1, "empty": 0, "score": score,
            "gates": [{"passed": k == 0}], "gate": None}


def test_summary_rows_and_score_column_only_when_scored():
    plain = summary_table([record("b", 1, 4), record("a", 0, 4)])
    lines = plain.splitlines()
    assert "mean score" not in lines[0] and lines[2].startswith("| a ") and "FAIL" in lines[3]
    scored = summary_table([record("a", 0, 4, {"n": 4, "mean": 3.25, "ci_low": 1.5, "ci_high": 5.0}), record("b", 1, 4)])
    assert "mean score" in scored.splitlines()[0] and "3.25 [1.5, 5]" in scored
