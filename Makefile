# Kartu Bahagia: `make demo` and `make test` each set up what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Card tests and the demo share pcscd and the vpcd readers; one session at a time holds this lock.
PCSC_LOCK := /tmp/kartu-bahagia-pcsc.lock

.PHONY: demo test bench system venv catalogs clean

demo: system venv
	flock $(PCSC_LOCK) $(BIN)/kartu demo

test: system venv
	KARTU_PCSC_LOCK_HELD=1 flock $(PCSC_LOCK) $(BIN)/pytest -q -n 2 --dist loadgroup

bench: system venv
	flock $(PCSC_LOCK) $(BIN)/python bench/apdu.py
	flock $(PCSC_LOCK) $(BIN)/python bench/tap.py
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/qr_sizes.py
	$(BIN)/python bench/issuance_station.py
	$(BIN)/python bench/card_face.py
	$(BIN)/python bench/fuzz_qr.py -runs=1000000
	$(BIN)/python bench/terminal.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/entitlements.py
	$(BIN)/python bench/api_fuzz.py
	KARTU_DURABILITY_REDEMPTIONS=5000 $(BIN)/pytest -q tests/terminal/test_durability.py

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
	$(BIN)/pybabel extract --mapping babel.cfg --keywords N_ --keywords Nn_:1,2 --keywords translate \
		--no-location --sort-output --project kartu-bahagia --output-file card/locale/kartu.pot .
	$(BIN)/pybabel update --input-file card/locale/kartu.pot --output-dir card/locale --domain kartu --no-fuzzy-matching
	$(BIN)/pybabel compile --directory card/locale --domain kartu --statistics

clean:
	rm -rf $(VENV) .pytest_cache demo-run
