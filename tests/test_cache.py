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
