# Two commands: `make run` starts Pulse, `make test` runs every check. Both bootstrap .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# What `make run` needs (requirements.lock), and what `make test` adds (requirements-test.lock):
# the tools of the tests never ship with the product, nor hold back its dependencies.
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.tested-$(shell cat requirements.lock requirements-test.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench lock clean system-packages cluster-up cluster-down

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || { echo "==> creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing the locked dependencies into $(VENV) (a minute the first time)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP) requirements-test.lock
	@echo "==> installing the test tools into $(VENV)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-test.lock
	@rm -f $(VENV)/.tested-*
	@touch $(TEST_STAMP)

run: $(STAMP)
	@echo "==> starting Pulse (python app.py); Ctrl-C stops it and the servers it started"
	@$(PY) app.py

# Pulse as a cluster on loopback (CONTRACT §11): 2 web, 2 stream, 2 worker behind nginx on
# http://127.0.0.1:18080, Redis (CLUSTER_REDIS=cluster|single) and PostgreSQL + a read replica,
# all under var/cluster/; cluster-down stops it all and removes var/cluster/.
cluster-up: $(STAMP)
	@$(PY) app.py cluster-up

cluster-down:
	@$(PY) app.py cluster-down

lint: $(TEST_STAMP)
	@echo "==> ruff and mypy"
	$(VENV)/bin/ruff check app data components callbacks tests bench
	$(VENV)/bin/ruff format --check app data components callbacks tests bench
	$(VENV)/bin/mypy

# Chromium, chromedriver and sqlmap, which the browser and security tests drive.
system-packages:
	@bash .ci/system-packages

# Two workers, a test file each at a time (a file's module fixtures, such as a loopback
# cluster, start once): most tests wait on Chromium or a server, so two share two cores
# well and the suite takes about half as long. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
test: lint system-packages
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(PY) bench/live_latency.py

# Re-pin every dependency after changing pyproject.toml: the product's, then the tests' on top.
LOCK_VENV := /tmp/pulse-lock
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	  open("$(LOCK_VENV)/runtime.in", "w").write("\n".join(p["dependencies"])); \
	  open("$(LOCK_VENV)/test.in", "w").write("\n".join(p["optional-dependencies"]["test"]))'
	$(LOCK_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(LOCK_VENV)/runtime.in
	$(LOCK_VENV)/bin/pip freeze > requirements.lock
	$(LOCK_VENV)/bin/pip install --quiet --disable-pip-version-check -c requirements.lock \
	  -r $(LOCK_VENV)/test.in
	$(LOCK_VENV)/bin/pip freeze | grep -vxFf requirements.lock > requirements-test.lock

clean:
	rm -rf $(VENV)
