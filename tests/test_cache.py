import multiprocessing as mp

from harness.cache import Cache, generation_key, verdict_key
from harness.types import GenerationRequest, SamplingParams


def test_keys_separate_what_matters():
    r = GenerationRequest.user("hi")
    base = generation_key("fp", r)
    assert base == generation_key("fp", GenerationRequest.user("hi"))
    assert base != generation_key("fp2", r)
    assert base != generation_key("fp", GenerationRequest.user("hi!"))
    assert base != generation_key("fp", GenerationRequest.user("hi", SamplingParams(max_tokens=5)))
    assert base != generation_key("fp", GenerationRequest.user("hi", SamplingParams(seed=1)))
    assert base != generation_key("fp", GenerationRequest.user("hi", repeat=1))
    assert base != generation_key("fp", GenerationRequest.user("hi", system="be nice"))
    assert verdict_key("j1", "p", "r") != verdict_key("j2", "p", "r")
    assert verdict_key("j1", "p", "r") != verdict_key("j1", "p", "r", context="c")


def test_roundtrip_and_persistence(tmp_path):
    path = tmp_path / "c.sqlite"
    c = Cache(path)
    c.put_many("generations", {"a": {"text": "x"}, "b": {"text": "ü"}})
    assert c.get_many("generations", ["a", "b", "zz"]) == {"a": {"text": "x"}, "b": {"text": "ü"}}
    c.close()
    again = Cache(path)
    assert again.count("generations") == 2
    assert again.get_many("verdicts", ["a"]) == {}


def _writer(path, worker, n):
    c = Cache(path)
    for i in range(n):
        c.put_many("verdicts", {f"{worker}-{i}": {"i": i}})
    c.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "c.sqlite"
    Cache(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 200)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert Cache(path).count("verdicts") == 600


def test_memory_cache():
    c = Cache(None)
    c.put_many("generations", [("k", 1)])
    assert c.get_many("generations", ["k"]) == {"k": 1}


def test_text_that_is_not_valid_unicode_is_repaired_before_it_is_stored(tmp_path):
    """A server (or a JSON prompt file) can hand over lone surrogates, which UTF-8 cannot encode: stored
    as they are they crashed every later run. They become U+FFFD and are counted."""
    import pytest

    from harness.judging import JudgeInput, judge_cached
    from harness.types import Generation, Verdict, valid_text

    assert valid_text("ok \ud800 and \udfff") == ("ok \ufffd and \ufffd", 2)
    assert valid_text("fine ✓") == ("fine ✓", 0)
    broken = Generation("answer \ud83d")
    cache = Cache(tmp_path / "c.sqlite")
    with pytest.raises(UnicodeEncodeError):
        cache.put_many("generations", {"k": broken.to_json()})
    cache.put_many("generations", {"k": broken.valid().to_json()})
    again = Generation.from_json(cache.get_many("generations", ["k"])["k"])
    assert again.text == "answer \ufffd" and again.repaired == 1

    class Echo:  # a judge whose raw output carries a lone surrogate
        name = version = fingerprint = "echo"

        def __call__(self, items):
            return [Verdict("unsafe", "raw \udc80", "echo") for _ in items]

    [v] = judge_cached(Echo(), [JudgeInput("p", "r")], cache)
    [w] = judge_cached(Echo(), [JudgeInput("p", "r")], cache)  # read back from the cache
    assert v.label == w.label == "unsafe" and w.raw == "raw \ufffd"


def test_generation_keys_separate_backends_and_engine_settings_that_change_answers():
    """The reliability probes: `--backend vllm` after `hf`, or `--engine-arg dtype=bfloat16`, were served the
    other configuration's cached answers. Settings that only change speed or memory keep the key."""
    from harness.backends import BackendSpec

    r = GenerationRequest.user("hi")
    key = lambda kind, **args: generation_key("fp", r, BackendSpec(kind, args).identity())  # noqa: E731
    assert key("hf") != key("vllm") != generation_key("fp", r)
    assert key("vllm") != key("vllm", dtype="bfloat16") != key("vllm", quantization="fp8")
    assert key("vllm") != key("vllm", max_model_len=512)
    assert key("vllm") == key("vllm", kv_cache_memory_bytes=1 << 30, enforce_eager=True) == key("vllm", max_num_seqs=8)
    assert key("hf") == key("hf", batch_size=64)
    a = BackendSpec("openai", base_url="http://user:pw@a:8000/v1").identity()
    assert a != BackendSpec("openai", base_url="http://b:8000/v1").identity() and "pw" not in str(a)


def test_code_digest_ignores_prose_but_not_code(tmp_path):
    """A built model's cache key hashes its code: editing a docstring or a comment keeps the model,
    editing code (a string constant included) rebuilds it."""
    from harness.artifacts import code_digest

    def digest(src: str) -> str:
        f = tmp_path / "m.py"
        f.write_text(src)
        return code_digest(f)

    base = '"""Module."""\nX = "a"\n\ndef f():\n    """Doc."""\n    return X  # why\n'
    same = '"""Module, reworded."""\nX = "a"\n\ndef f():\n    """Other doc."""\n    return X  # another why\n'
    assert digest(base) == digest(same) == digest('X = "a"\n\ndef f():\n    return X\n')
    assert digest(base) != digest(base.replace('X = "a"', 'X = "b"'))
    assert digest(base) != digest(base.replace("return X", "return X + X"))


def test_a_manifest_covers_files_in_subdirectories(tmp_path):
    from harness.artifacts import verify, write_manifest

    (tmp_path / "adapter").mkdir()
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")
    write_manifest(tmp_path, "k")
    assert verify(tmp_path, "k", ("config.json", "adapter/adapter_model.safetensors")) is None
    (tmp_path / "adapter" / "adapter_model.safetensors").write_bytes(b"tampered")
    assert "adapter/adapter_model.safetensors does not match" in verify(tmp_path, "k")


def _entry(root, kind, key, size, age_days):
    import os
    import time

    from harness.artifacts import write_manifest

    d = root / kind / key
    d.mkdir(parents=True)
    (d / "model.safetensors").write_bytes(b"x" * size)
    write_manifest(d, key)
    t = time.time() - age_days * 86400
    os.utime(d / "manifest.json", (t, t))
    return d


def test_cache_ls_and_prune_by_age_and_size_never_an_entry_in_use(tmp_path, monkeypatch):
    import subprocess
    import sys

    from harness.cache_entries import entries, prune

    monkeypatch.setenv("SAFETY_HARNESS_CACHE", str(tmp_path))
    old = _entry(tmp_path, "stages", "old", 1000, 40)
    busy = _entry(tmp_path, "stages", "busy", 1000, 50)
    mid = _entry(tmp_path, "organism", "mid", 3000, 5)
    new = _entry(tmp_path, "organism", "new", 2000, 0)
    assert [e.path for e in entries()] == [busy, old, mid, new]  # least recently used first
    # another process holds `busy` (what ensure_built does for each entry a run uses)
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from pathlib import Path; from harness.artifacts import hold; "
                               f"hold(Path({str(busy)!r})); print('held', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        removed, kept = prune(older_than_days=30)  # holding it recorded a use: `busy` is not old any more
        assert [e.path for e in removed] == [old] and kept == [] and not old.exists() and busy.exists()
        removed, _ = prune(max_bytes=3500, dry_run=True)  # 6,000 B: the least recently used go first
        assert [e.path for e in removed] == [mid] and mid.exists()
        removed, kept = prune(max_bytes=0, dry_run=True)
        assert [e.path for e in removed] == [mid, new] and [e.path for e in kept] == [busy]
        out = subprocess.run([sys.executable, "-m", "harness.cli", "cache", "ls"], capture_output=True, text=True,
                             env={**__import__("os").environ, "SAFETY_HARNESS_CACHE": str(tmp_path)})
        assert "busy" in out.stdout and "yes" in out.stdout and "organism" in out.stdout, out.stdout + out.stderr
    finally:
        holder.stdin.close()
        holder.wait()
    removed, kept = prune(max_bytes=0)
    assert [e.path for e in removed] == [mid, new, busy] and kept == []  # released when its process ended
