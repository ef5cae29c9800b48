# Kartu Bahagia: `make demo` and `make test` each set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench system venv catalogs clean

demo: system venv
	$(BIN)/kartu demo

test: system venv
	$(BIN)/pytest -q

bench: system venv
	$(BIN)/python bench/apdu.py

system:
	@scripts/setup-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Re-extract the message catalogue and compile the translations after changing user-facing text.
catalogs: venv
	$(BIN)/pybabel extract --mapping babel.cfg --keywords N_ --keywords translate \
		--no-location --sort-output --project kartu-bahagia --output-file card/locale/kartu.pot .
	$(BIN)/pybabel update --input-file card/locale/kartu.pot --output-dir card/locale --domain kartu --no-fuzzy-matching
	$(BIN)/pybabel compile --directory card/locale --domain kartu --statistics

clean:
	rm -rf $(VENV) .pytest_cache demo-run
