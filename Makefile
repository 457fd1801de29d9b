# AgentLevel: `make run` runs the product, `make test` runs the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	@mkdir -p var/celery/broker var/celery/processed var/celery/control
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py setup_periodic_tasks
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  AgentLevel is starting on http://127.0.0.1:$${PORT:-8000}/"
	@echo "  Log in as demo-owner / demo-password (org owner); staff admin: admin / admin-password at /admin/."
	@echo "  A local GoHighLevel sandbox runs on http://127.0.0.1:$${GHL_SANDBOX_PORT:-8100}/ (demo location"
	@echo "  'AgentLevel Demo Dental'); Connect GoHighLevel from your organization's settings page."
	@echo "  Ctrl-C stops every process."
	@echo ""
	# config/devrun.py runs the Procfile; on Ctrl-C each process stops by itself (a worker finishes its task).
	WEB_PORT=$${PORT:-8000} DEBUG=$${DEBUG:-1} PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m config.devrun -f Procfile

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
