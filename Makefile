# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv, install torch==2.13.0 (CPU build) first when torch is missing, then dgno.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dgno-installed

.PHONY: install demo test test-fast test-slow lint docs wheel-check bench compare clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev,peers]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/dgno demo --out runs/demo

# the default suite on every core (pytest-xdist), one torch thread per worker, the slowest tests listed
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n auto --durations=15

# the unit tests (no training, no data generation of whole splits): under a minute
test-fast: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -q -n auto --durations=5 -m "not slow and not gpu and not integration"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks examples tools docs

# the documentation site (Sphinx + sphinx-gallery; the tutorials run): warnings are errors
docs: $(STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	OMP_NUM_THREADS=1 $(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "the site: docs/_build/html/index.html"

# a wheel installed in a fresh environment outside the tree runs demo --quick, generate, train NAME, invert pretrained:
wheel-check: $(STAMP)
	$(PY) -m pip install -q build
	PYTHON=$(PY) bash tools/wheel_check.sh

bench: $(STAMP)
	$(PY) benchmarks/generate_darcy.py

# the equal-budget comparison of DGNO and its baselines on darcy-pwc (about 2 hours on 2 cores)
compare: $(STAMP)
	test -f data/darcy-pwc/test.h5 || $(VENV)/bin/dgno generate darcy-pwc --out data/darcy-pwc --quiet
	$(VENV)/bin/dgno bench --preset darcy-pwc --budget-minutes 15 --threads 2

clean:
	rm -rf $(VENV) runs build *.egg-info
