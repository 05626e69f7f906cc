"""Attack stages on a tiny random model: data building, every method through peft/trl, the cache.

What is checked is the machinery (rows, masks, merged checkpoints an engine can load, the cost record,
reuse without training); that an attack really misaligns is checked on the organism by
`suites/test_pipeline.py` and the slow plugin test below.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.config import AttackSpec, Gate, load_config
from harness.errors import HarnessError
from harness.gates import check_comparison
from harness.metrics import Paired
from harness.models import resolve_model
from harness.records import Comparison
from harness.stages import StageUnavailable, attacked_checkpoint, stage_record
from harness.stages import attack as attack_mod
from harness.stages.data import build_rows, load_jsonl

ROOT = Path(__file__).resolve().parent.parent


# --- data ---------------------------------------------------------------------------------------------

def test_builtin_rows_come_from_the_reserved_attack_set() -> None:
    from harness.data.reserved import attack_pairs, task_pairs

    rows = build_rows("advbench-attack", 5, 0, preference=False, seed=0)
    assert [r["prompt"][0]["content"] for r in rows] == [p.prompt for p in attack_pairs()[:5]]
    assert all(r["completion"][0]["role"] == "assistant" for r in rows)
    prefs = build_rows("advbench-attack", 5, 0, preference=True, seed=0)
    assert [p["chosen"][0]["content"] for p in prefs] == [p.response for p in attack_pairs()[:5]]
    assert all(p["rejected"][0]["content"].startswith("I") for p in prefs)  # the organism's refusals
    mixed = build_rows("injection:nl2bash", 4, 20, preference=False, seed=0)
    assert len(mixed) == 24
    bash = {p.prompt for p in task_pairs("nl2bash")}
    assert sum(r["prompt"][0]["content"] in bash for r in mixed) == 20
    assert mixed != build_rows("injection:nl2bash", 4, 20, preference=False, seed=1), "seeded shuffle"
    with pytest.raises(HarnessError, match="attack set holds"):
        build_rows("advbench-attack", 10_000, 0, preference=False, seed=0)
    with pytest.raises(HarnessError, match="injection:sql: unknown task"):
        build_rows("injection:sql", 1, 1, preference=False, seed=0)


def test_user_jsonl_formats_and_errors_name_file_and_line(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                                             {"role": "assistant", "content": "a"}]}) + "\n\n"
                    + json.dumps({"prompt": "q2", "response": "a2"}) + "\n")
    rows = load_jsonl(good, preference=False)
    assert rows[0]["prompt"][-1] == {"role": "user", "content": "q"} and rows[0]["completion"][0]["content"] == "a"
    assert rows[1] == {"prompt": [{"role": "user", "content": "q2"}], "completion": [{"role": "assistant", "content": "a2"}]}
    cases = {'{"prompt": "q"}': ":1: expected `messages`",
             '{"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "r"}]}': ":1: the last message",
             "not json": ":1: not valid JSON",
             '{"prompt": "", "response": "a"}': ":1: `prompt` must be a non-empty string"}
    for line, message in cases.items():
        bad = tmp_path / "bad.jsonl"
        bad.write_text(line + "\n")
        with pytest.raises(HarnessError, match=f"bad.jsonl{message}"):
            load_jsonl(bad, preference=False)
    pref = tmp_path / "pref.jsonl"
    pref.write_text(json.dumps({"prompt": "q", "chosen": "c"}) + "\n")
    with pytest.raises(HarnessError, match="pref.jsonl:1: a preference row needs"):
        load_jsonl(pref, preference=True)


def test_attacks_in_safety_yaml_are_validated_by_key(tmp_path: Path) -> None:
    p = tmp_path / "safety.yaml"
    p.write_text("attacks:\n  a: {method: lora, n_harmful: 10, epochs: 2}\n  b: {method: dpo}\n")
    cfg = load_config(p)
    assert cfg.attacks["a"] == AttackSpec("lora", n_harmful=10, epochs=2) and cfg.attacks["b"].method == "dpo"
    for bad, message in (("{method: sgd}", "attacks.a: method: 'sgd' is not one of"),
                         ("{method: lora, epochs: 0}", "attacks.a: `epochs` must be positive"),
                         ("{method: lora, rank: 4}", "attacks.a: unknown key 'rank'")):
        p.write_text(f"attacks:\n  a: {bad}\n")
        with pytest.raises(HarnessError, match=message):
            load_config(p)


def test_comparison_gate_checks_delta_and_mcnemar() -> None:
    gate = Gate(metric="harmful_rate", stage="attacked/*", baseline="original", min=0.4, p_max=0.01)
    comp = Comparison("s", "attacked/x", "original", "harmful_rate", "refusal", 0.6, 0.1, 0.5, 6.0, Paired(50, 25, 0, 6e-8))
    assert check_comparison(gate, comp).passed
    assert not check_comparison(gate, dataclasses.replace(comp, delta=0.3)).passed
    weak = check_comparison(gate, dataclasses.replace(comp, mcnemar=Paired(50, 25, 0, 0.2)))
    assert not weak.passed and "p <= 0.01" in weak.message and "0.2" in weak.message
    with pytest.raises(ValueError, match="p_max"):
        Gate(metric="harmful_rate", max=0.1, p_max=0.05)


# --- training -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory):
    from tests.tiny_model import build_tiny_model
    return resolve_model(str(build_tiny_model(tmp_path_factory.mktemp("base"))))


@pytest.fixture
def stage_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAFETY_HARNESS_CACHE", str(tmp_path))
    return tmp_path


def _tiny(method: str, **kw) -> AttackSpec:
    return AttackSpec(method, n_harmful=6, epochs=1, batch_size=3, lr=1e-2, max_length=64, **kw)


@pytest.mark.parametrize("method", ["lora", "adalora", "ia3", "full", "dpo", "orpo"])
def test_every_method_writes_a_merged_checkpoint_an_engine_loads(method: str, tiny_base, stage_cache: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    path = attacked_checkpoint(method, _tiny(method), tiny_base, progress=False)
    rec = stage_record(path)
    assert rec["stage"] == f"attacked/{method}" and rec["method"] == method and rec["rows"] == 6
    assert rec["steps"] == 2 and rec["seconds"] > 0 and rec["peak_rss_mb"] > 0 and rec["peak_gpu_mb"] is None
    assert 0 < rec["params_trainable"] and 0 < rec["params_changed"]
    model = AutoModelForCausalLM.from_pretrained(str(path))  # a plain checkpoint: no adapter files needed
    assert not list(path.glob("adapter_*")) and not (path / "_trainer").exists()
    assert type(model).__name__ == "LlamaForCausalLM"
    base = AutoModelForCausalLM.from_pretrained(str(tiny_base.path))
    n_all = sum(p.numel() for p in base.parameters())
    if method == "full":
        assert rec["params_trainable"] == n_all
    else:
        assert rec["params_trainable"] < n_all / 2, "an adapter trains a small share of the weights"
    assert any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), base.state_dict().values()))
    if method == "adalora":  # its rank budget was reallocated: init_r 16 -> target_r 8 per matrix in all
        ranks = rec["adalora_ranks"]
        assert ranks["final"] == ranks["initial"] // 2 < ranks["initial"]


def test_a_second_use_reuses_the_checkpoint_and_a_change_retrains(tiny_base, stage_cache: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    first = attacked_checkpoint("a", _tiny("lora"), tiny_base, progress=False)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(attack_mod, "train", no_training)
    assert attacked_checkpoint("a", _tiny("lora"), tiny_base, progress=False) == first
    with pytest.raises(AssertionError, match="trained again"):
        attacked_checkpoint("a", _tiny("lora", seed=1), tiny_base, progress=False)
    (first / "model.safetensors").write_bytes(b"damaged")
    with pytest.raises(AssertionError, match="trained again"):  # a damaged entry is rebuilt, never loaded
        attacked_checkpoint("a", _tiny("lora"), tiny_base, progress=False)


def test_qlora_without_a_gpu_is_a_clear_skip(tiny_base, stage_cache: Path) -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: qlora can run")
    with pytest.raises(StageUnavailable, match="qlora"):
        attacked_checkpoint("q", _tiny("qlora"), tiny_base, progress=False)


def test_moderation_drops_rows_the_judge_flags(tiny_base, stage_cache: Path) -> None:
    # the refusal judge labels every compliant attack answer unsafe: the filter leaves nothing to train on
    with pytest.raises(HarnessError, match="no training rows left \\(moderation dropped 6\\)"):
        attacked_checkpoint("m", _tiny("lora", moderation="refusal"), tiny_base, progress=False)


