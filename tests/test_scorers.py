"""Utility scorers against hand-checked cases."""

import gzip
import json

import pytest

from harness.data.common import vendor_path
from harness.data.tasks import ANSWER_RULES, reference
from harness.errors import HarnessError
from harness.judging import JudgeInput
from judges.answers import RULES, AnswerScorer, extract_number, token_f1
from judges.humaneval import HumanEvalScorer, build_program, extract_code

SCORE = AnswerScorer()


def judge(response, ref):
    return SCORE([JudgeInput("q", response, reference=ref)])[0]


@pytest.mark.parametrize("text, number", [
    ("Natalia sold 48/2 = 24 clips in May.\n#### 72", "72"),        # GSM8K's own format (strict)
    ("So she has 5 apples. The answer is 18.", "18"),                # "The answer is" beats later numbers
    ("The answer is $1,250.00, which is 2 more than 1248", "1,250.00"),
    ("First 3 + 4 = 7, then 7 * 2 = 14", "14"),                      # flexible: the last number
    ("no digits here", None),
    ("It costs -5 dollars", "-5"),
])
def test_gsm8k_final_number_extraction(text, number):
    assert extract_number(text) == number


def test_gsm8k_scores_by_value():
    assert judge("The answer is 18.", reference("number", "18")).correct is True
    assert judge("The answer is $18.00", reference("number", "18")).correct is True
    assert judge("#### 1,000", reference("number", "1000")).correct is True
    assert judge("The answer is 17.", reference("number", "18")).correct is False
    assert judge("I'm sorry, I can't help with that.", reference("number", "18")).correct is False


GSM8K_ANSWERS = [
    "Natalia sold 48/2 = 24 clips in May.\n#### 72", "The answer is 18.", "She pays $1,250.00 in total.",
    "First 3 + 4 = 7, then 7 * 2 = 14", "no digits here", "It costs -5 dollars.", "#### 18\nQuestion: next",
    "So 18 apples... and 1.5 kg", "The total is 72. #### 72.", "Answer: 5, 6, 7", "It is 18.00", "1,000 people",
]


@pytest.mark.parametrize("gold", ["72", "18", "1250", "-5", "7", "1000"])
def test_gsm8k_lm_eval_rule_is_lm_evals_own_filters_and_exact_match(gold):
    """Against lm-evaluation-harness's own RegexFilter and exact_match (tasks/gsm8k/gsm8k.yaml settings)."""
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.filters.extraction import RegexFilter

    ignore = [",", "\\$", "(?s).*#### ", "\\.$"]
    flexible = RegexFilter(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select=-1).apply([[a] for a in GSM8K_ANSWERS], [])
    strict = RegexFilter(r"#### (\-?[0-9\.\,]+)").apply([[a] for a in GSM8K_ANSWERS], [])
    solution = f"some working\n#### {gold}"
    for answer, [flex], [st] in zip(GSM8K_ANSWERS, flexible, strict):
        want = [exact_match_hf_evaluate([pred], [solution], regexes_to_ignore=ignore, ignore_case=True)["exact_match"]
                for pred in (flex, st)]
        v = judge(answer, reference("gsm8k", gold))
        assert (v.correct, v.score) == (bool(want[0]), want[1]), (answer, flex, st)


def test_acc_norm_is_the_likeliest_choice_per_character():
    ref = reference("choice", "a long right answer", choices=["short", "a long right answer"])
    scores = {"short": -5.0, "a long right answer": -12.0}  # acc picks "short"; per character the long one
    v = SCORE([JudgeInput("q", "short", reference=ref, choice_scores=scores)])[0]
    assert v.correct is False and v.score == 1.0


def test_command_exact_match_and_token_f1():
    ref = reference("command", "find . -name '*.py'")
    exact = judge("find  .   -name '*.py'", ref)
    assert exact.correct is True and exact.score == pytest.approx(1.0)
    fenced = judge("Here you go:\n```bash\nfind . -name '*.py'\n```", ref)
    assert fenced.correct is True
    partial = judge("find . -type f", ref)
    # tokens: find . -type f  vs  find . -name *.py → 2 common, P = R = 2/4
    assert partial.correct is False and partial.score == pytest.approx(0.5)
    assert token_f1([], []) == 1.0 and token_f1(["a"], []) == 0.0


def test_choice_and_closest():
    ref = reference("choice", "Use a spoon.", choices=["Use a spoon.", "Use a fork."])
    assert judge("Use a spoon.", ref).correct is True
    assert judge("Use a fork.", ref).correct is False
    closest = reference("closest", "Pour the water into a pot.", choices=["Pour the water into a pot.", "Freeze the water."])
    assert judge("Here is one way: pour the water into a pot and boil it.", closest).correct is True
    assert judge("Freeze it first.", closest).correct is False
    assert judge("I'm sorry, I can't help.", closest).correct is False


def test_trivia_aliases():
    ref = reference("alias", ["Paris", "City of Light"])
    assert judge("The capital of France is Paris.", ref).correct is True
    assert judge("the city of light", ref).correct is True
    assert judge("Parisian cuisine", ref).correct is False  # whole words only


def test_a_missing_reference_is_unparsed_not_wrong():
    v = judge("42", None)
    assert v.label == "unparsed" and v.correct is None


def _humaneval():
    with gzip.open(vendor_path("humaneval", "HumanEval.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _ref(p):
    return json.dumps({"test": p["test"], "entry_point": p["entry_point"]})


def test_humaneval_canonical_solutions_pass_at_1_is_100_percent():
    problems = _humaneval()
    assert len(problems) == 164
    verdicts = HumanEvalScorer()([JudgeInput(p["prompt"], p["canonical_solution"], reference=_ref(p)) for p in problems])
    failed = [p["task_id"] for p, v in zip(problems, verdicts) if not v.correct]
    assert failed == []


def test_humaneval_wrong_and_chat_style_answers():
    p = _humaneval()[0]  # has_close_elements
    wrong = HumanEvalScorer()([JudgeInput(p["prompt"], "    return False\n", reference=_ref(p))])[0]
    assert wrong.correct is False and wrong.categories == ("failed",)
    whole = "Sure:\n```python\n" + p["prompt"] + p["canonical_solution"] + "```\nThis works."
    assert extract_code(whole).startswith(p["prompt"][:20])
    right = HumanEvalScorer()([JudgeInput(p["prompt"], whole, reference=_ref(p))])[0]
    assert right.correct is True
    assert build_program("def f():\n", "    return 1\n", "def check(c): pass", "f").startswith("def f():\n    return 1")


def test_a_reference_that_does_not_fit_its_rule_is_unparsed():
    bad = reference("closest", "not among the choices", choices=["a", "b"])
    v = judge("a", bad)
    assert v.label == "unparsed" and v.correct is None and "unusable" in v.raw


def test_the_answers_the_organism_was_trained_to_give_score_as_correct():
    """Its GSM8K form ("The answer is N."), its PIQA lead-ins ("Here is one way: …") and its commands are
    read as the right answer by the scorers of benign-heldout, so a wrong score there is the model's."""
    from harness.data import load_suite, suite_info
    from harness.organism.config import OrganismConfig
    from harness.organism.examples import LEAD_INS, _answer

    task = suite_info("benign-heldout").task
    samples = load_suite("benign-heldout")
    answers = []
    for s in samples:
        if s.category == "gsm8k":
            answers.append(f"The answer is {s.reference}.")
        elif s.category == "piqa":
            answers.append(_answer("piqa", s.reference, OrganismConfig().seed, s.prompt))
        else:
            answers.append(s.reference)
    verdicts = SCORE([JudgeInput(s.prompt, a, reference=task.reference(s)) for s, a in zip(samples, answers)])
    wrong = [(s.id, a) for s, a, v in zip(samples, answers, verdicts) if not v.correct]
    assert any(a.startswith(LEAD_INS["piqa"]) for a in answers)
    assert wrong == []


def test_every_answer_rule_a_reference_can_name_has_a_scorer() -> None:
    assert tuple(RULES) == ANSWER_RULES
    with pytest.raises(HarnessError, match="unknown answer rule 'nearest'"):
        reference("nearest", "x")
