# Common tasks. `make help` lists them.
.PHONY: help install test test-full train format lint tb clean

help: ## Show this help
	@grep -E "^[a-zA-Z_-]+:.*?## " $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "%-10s %s\n", $$1, $$2}'

install: ## Install the project with its development tools (editable)
	pip install -e ".[dev]"

test: ## Run the fast tests (slow ones excluded by pyproject)
	pytest

test-full: ## Run every test, slow ones included
	pytest -m ""

train: ## Train on the default (synthetic) data; add ARGS="experiment=..."
	python src/train.py $(ARGS)

format: ## Format the code with black
	black .

lint: ## Check style (flake8, black --check)
	flake8
	black --check .

tb: ## Open TensorBoard on the logs
	tensorboard --logdir logs

clean: ## Remove caches and build outputs (keeps data/ and logs/)
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
	rm -rf .pytest_cache build dist *.egg-info
