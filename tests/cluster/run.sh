#!/usr/bin/env bash
# `make test-cluster`: start a one-node SLURM cluster, run tests/cluster against it, stop it again (also
# when a test fails or the run is interrupted). Usage: run.sh PYTHON (the venv with reelmake[slurm]).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${1:?usage: run.sh PYTHON}
SLURM=tests/cluster/slurm.sh
# A fixed place, so that a run killed before its teardown is cleaned up (by its recorded PIDs) by the next.
STATE=/var/tmp/reelmake-test-cluster

"$SLURM" check
"$SLURM" down "$STATE"
trap '"$SLURM" down "$STATE"' EXIT
trap 'exit 130' INT TERM
"$SLURM" up "$STATE"
# Each snakemake run inside has its own timeout; this one bounds the whole session.
REELMAKE_TEST_CLUSTER=1 timeout -k 30 1800 "$PYTHON" -m pytest -q -n0 -p no:cacheprovider tests/cluster
