# waagent: two commands for a newcomer on Debian 12, as root:
#   make demo   installs what it needs, runs the agent end to end against the fabric simulator
#   make test   installs what it needs, then lint, types and every test
# Both are idempotent: what is already installed is not installed again.

SHELL := /bin/bash
PYTHON_SYSTEM := /usr/bin/python3
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
# Debian packages the services, tests and demo use: deps/apt/*.txt, one per line, with comments.
APT_PACKAGES := $(shell cat deps/apt/*.txt | sed 's/\#.*//' | tr -s ' \n' ' ')
PYTEST_ARGS ?=

.PHONY: all deps apt venv lint typecheck test unit demo clean

all: test

deps: apt venv

# apt-get runs only when a package is missing, so a second `make` does not touch the network.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${db:Status-Status}\n' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The venv is built on Debian's interpreter: services and test clients run as users other than
# root, who cannot execute an interpreter kept under root's home.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[fabric,dev]'
	@touch $@

lint: venv
	$(VENV)/bin/ruff check services fabric tests bench demo
	$(VENV)/bin/ruff format --check services fabric tests bench demo

typecheck: venv
	$(VENV)/bin/mypy services fabric

test: deps lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

demo: deps
	$(PY) demo/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
