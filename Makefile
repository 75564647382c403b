# The two commands a new user types: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

VENV_CLUSTER := .venv-cluster

.PHONY: demo test lint bench soak clean test-cluster cluster-preflight

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(INSTALLED)  ## render projects/demo/build/final.mp4
	cd projects/demo && ../../$(BIN)/snakemake --cores all
	$(BIN)/reelmake probe projects/demo/build/final.mp4 --decode none \
		| $(BIN)/python -c "import json,sys; r=json.load(sys.stdin); print('demo: %sx%s, %.1f s, %s+%s -> projects/demo/build/final.mp4' % (r['width'], r['height'], r['duration_s'], r['video_codec'], r['audio_codec']))"

lint: $(INSTALLED)  ## ruff and snakefmt (Snakemake's --lint runs in the tests)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules src/reelmake/templates/project/Snakefile

test: lint  ## the whole test suite
	$(BIN)/pytest -q

# The SLURM executor lives in its own venv: installed, it makes every Snakemake start probe for a
# controller (up to 10 s where none answers), and `make test` must not pay for that.
$(VENV_CLUSTER)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_CLUSTER)
	$(VENV_CLUSTER)/bin/pip install --quiet --upgrade pip
	$(VENV_CLUSTER)/bin/pip install --quiet -e '.[dev,slurm]'
	touch $@

cluster-preflight:
	tests/cluster/slurm.sh check

test-cluster: cluster-preflight $(VENV_CLUSTER)/.installed  ## render on a real one-node SLURM cluster (root, Debian)
	tests/cluster/run.sh $(VENV_CLUSTER)/bin/python

soak: $(INSTALLED)  ## the fault suite at full size: more kills, fuzz examples and load (not part of CI)
	REELMAKE_SOAK=1 $(BIN)/pytest -q -m fault tests

bench: $(INSTALLED)  ## speed and quality figures (not part of `make test`)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf projects/demo/build projects/demo/logs projects/demo/.snakemake
