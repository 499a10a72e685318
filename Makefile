# The two commands: `make demo` (a small federation on this machine) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: install
	$(BIN)/n12315 demo

# Three workers on two cores: a good part of the suite waits on PostgreSQL and on real
# `serve` processes, not on the CPU (whole suite here: 9 min 16 s with two, 8 min 23 s with three).
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
