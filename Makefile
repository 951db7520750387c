# Two commands: `make run` starts Pulse, `make test` runs every check. Both bootstrap .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || { echo "==> creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing the locked dependencies into $(VENV) (a minute the first time)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

run: $(STAMP)
	@echo "==> starting Pulse (python app.py); Ctrl-C stops it and the servers it started"
	@$(PY) app.py

lint: $(STAMP)
	@echo "==> ruff and mypy"
	$(VENV)/bin/ruff check app data components callbacks tests bench
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/live_latency.py

# Re-pin every dependency after changing pyproject.toml.
lock:
	rm -rf /tmp/pulse-lock && $(PYTHON) -m venv /tmp/pulse-lock
	/tmp/pulse-lock/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
	/tmp/pulse-lock/bin/pip freeze --exclude-editable | grep -v '^pulse' > requirements.lock

clean:
	rm -rf $(VENV)
