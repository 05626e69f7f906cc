#!/usr/bin/env bash
# The GPU check: safety-gpu.yaml (smollm2-aligned built, attacked, recovered at the recovery paper's full
# defaults, full suites, transformers backend) on one GPU in one run, then its stage table.
#
# Runs where only torch, transformers, peft and accelerate are installed: the other pure-Python wheels
# it needs (trl, datasets and theirs, gguf) come from .whl/, and SmolLM2 from its GGUF file, given as
# $SAFETY_HARNESS_SMOLLM2_GGUF or as two halves (the lent machine takes 64 MiB per call):
#   prepare, here:   benchmarks/gpu_check.sh --prepare      (.whl/ and .gpu/part-a, .gpu/part-b)
#   call 1, there:   mkdir -p /tmp/gpu && cp .gpu/part-a /tmp/gpu/        (carry .gpu/part-a)
#   call 2, there:   benchmarks/gpu_check.sh /tmp/gpu/part-a .gpu/part-b  (carry .gpu/part-b and .whl)
# The table goes to stdout and, with the results, to $OUT (or reports/gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 gguf==0.19.0)

if [ "${1:-}" = "--prepare" ]; then
  grep -qx '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
  grep -qx '/.gpu/' .git/info/exclude || echo /.gpu/ >> .git/info/exclude
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl "${WHEELS[@]}"
  gguf=$(.venv/bin/python -c "from harness.organism.smollm2 import gguf_file; print(gguf_file())")
  mkdir -p .gpu && half=$(( $(stat -c %s "$gguf") / 2 ))
  head -c "$half" "$gguf" > .gpu/part-a && tail -c +"$((half + 1))" "$gguf" > .gpu/part-b
  ls -l .whl .gpu
  exit 0
fi

out=${OUT:-reports/gpu}
if [ $# -eq 2 ]; then cat "$1" "$2" > /tmp/smollm2.gguf; export SAFETY_HARNESS_SMOLLM2_GGUF=/tmp/smollm2.gguf; fi
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null  # the model entry points
export SAFETY_HARNESS_CACHE=${SAFETY_HARNESS_CACHE:-/tmp/safety-harness-cache} PYTHONUNBUFFERED=1
start=$(date +%s)
status=0
python3 -m pytest suites/ -p no:cacheprovider --gates safety-gpu.yaml --reports-dir "$out" -q || status=$?
python3 -m harness.cli stages "$out/results.json" | tee "$out/stages.txt"
python3 -m harness.cli organism info smollm2-aligned | tee "$out/card.txt"
echo "gpu check: $(( $(date +%s) - start )) s, pytest exit $status"
exit $status
