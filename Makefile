# Two entry points: `make report` (regenerate reports/) and `make test` (the whole suite).
# Both create .venv and install torch==2.13.0 (CPU wheel) before the project itself.
PY := .venv/bin/python
STAMP := .venv/.installed

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,diffusers]'
	touch $(STAMP)

.PHONY: install report test
install: $(STAMP)

report: $(STAMP)
	$(PY) -m gendiff report

test: $(STAMP)
	$(PY) -m gendiff derive --check
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile
