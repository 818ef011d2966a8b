# The two commands a newcomer needs: `make dev` (run the platform locally) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv dev test lint clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(STAMP)

dev: $(STAMP)
	$(PY) -m localdev --turn auto $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

test: $(STAMP) lint
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# Deploying to AWS (docs/deploy.md). STAGE is a Chalice stage (dev, prod); DEPLOY_ARGS passes
# options through, e.g. DEPLOY_ARGS="--param CacheNodeType=cache.r7g.large" or "--redis-url ...".
STAGE ?= dev
DEPLOY_ARGS ?=

.PHONY: deploy package teardown scan test-deploy clean-deploy

deploy: $(STAMP)
	$(PY) -m deploy deploy --stage $(STAGE) $(DEPLOY_ARGS)

package: $(STAMP)
	$(PY) -m deploy package --stage $(STAGE) $(DEPLOY_ARGS)

teardown: $(STAMP)
	$(PY) -m deploy teardown --stage $(STAGE) $(DEPLOY_ARGS)

# cfn-lint and checkov on infra/ and both stages' packaged templates (checkov: deploy/.venv-scan).
scan: $(STAMP)
	$(PY) -m deploy package --stage dev > /dev/null
	$(PY) -m deploy package --stage prod > /dev/null
	$(PY) -m deploy.scanners

# Only the deploy checks and the cluster-mode run (make test runs them too).
test-deploy: $(STAMP)
	$(PY) -m pytest tests/deploy tests/cluster $(PYTEST_ARGS)

clean-deploy:
	rm -rf deploy/build deploy/.venv-scan deploy/.venv-scan.lock

# Benchmarks (bench/README.md): tables on the terminal, JSON and Markdown in bench-results/.
# ARGS passes options through: make bench ARGS=--quick, make bench ARGS="--only load --users 5000".
.PHONY: bench
bench: $(STAMP)
	$(PY) -m bench $(ARGS)
