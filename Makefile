# The two commands: `make demo` (a small federation on this machine) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser tools demo test fuzz bench i18n clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

# The desk's browser tests drive the system's headless Chromium (Debian packages). Installed here
# where we run as root (CI, a fresh machine); elsewhere those tests skip with the reason, except
# under CI=true, where they fail.
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing chromium, chromium-driver, chromium-l10n, fonts-noto-cjk for the browser tests"; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
	    chromium chromium-driver chromium-l10n fonts-noto-cjk >/dev/null; \
	else echo "chromium/chromedriver missing and not root: the browser tests will be skipped"; fi

# The operations tests check the printed systemd unit with systemd's own verifier (Debian's
# systemd package ships systemd-analyze); installed here where we run as root, like the browser.
tools:
	@if command -v systemd-analyze >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing systemd (systemd-analyze) for the service-unit test"; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq systemd >/dev/null; \
	else echo "systemd-analyze missing and not root: the unit is checked by the Python reader only"; fi

# Page catalogues: extract, merge into each domain's zh_CN .po, compile (node/web/catalogs.py).
i18n: install
	$(BIN)/python -m node.web.catalogs

demo: install
	$(BIN)/n12315 demo

# Three workers on two cores: a good part of the suite waits on PostgreSQL and on real
# `serve` processes, not on the CPU (whole suite here, CI=true with PostgreSQL, 2026-12-08:
# 3,581 tests in 16 min 2 s). Files go to workers longest first (tests/conftest.py); xdist's
# own re-sort by test count would leave the long real-process files for the end.
test: install browser tools
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile --no-loadscope-reorder

# Every endpoint fuzzed deeper than `make test` does (issue 13 item 8, docs/fuzzing.md): more examples per
# operation, in-process on SQLite and PostgreSQL and against a real `serve`; N12315_FUZZ_SEED=n explores anew.
fuzz: install
	N12315_FUZZ_EXAMPLES=$${N12315_FUZZ_EXAMPLES:-100} $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 tests/node/test_api_fuzz.py

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
