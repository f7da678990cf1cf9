# The two commands of the README:
#   make demo   - set up .venv if missing, then run the synthetic end-to-end demo
#   make test   - set up .venv if missing, then run the whole test suite
#   make test-fast - the edit-test loop: every test but those running real jwst pipelines or the flow (-m "not slow")
# Everything is installed from PyPI into .venv; nothing global is touched.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.jwstspec-installed
PYTEST_ARGS ?=
# test processes (pytest-xdist): one per core; each test file runs whole in one of them (its module fixtures shared)
TEST_WORKERS ?= auto

.PHONY: demo test test-fast venv clean benchmarks

venv: $(STAMP)

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (CI, this sandbox) nothing is cached at run time,
# so every process (command, Prefect server, worker, test subprocess) would recompile jwst, astropy and Prefect
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --upgrade
	@test -x $(VENV)/bin/uv || $(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --python $(PY) --quiet --compile-bytecode -e ".[test,dask]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/jwstspec demo

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

benchmarks: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf jwstspec-demo .pytest_cache
