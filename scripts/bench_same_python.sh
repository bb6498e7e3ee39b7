#!/usr/bin/env bash
# The benchmark with this package on fanferro's interpreter: the Python 3.13 that scripts/fanferro_env.sh builds,
# in a venv of its own (.venv-py313, this package installed editable with the local endpoint and SQL extras).
#
# `make bench` runs our consumer on the project's Python (3.11) beside fanferro on 3.13. Run here, both
# contenders (and plain boto3, and the local endpoint) share one interpreter, which tells how much of a gap
# between them is the interpreter's. Results go under .cache/bench-py313 unless --results/--docs/--plot say
# otherwise: docs/benchmarks.md is `make bench`'s.
#
# Usage: scripts/bench_same_python.sh [python -m benchmarks.run options]
#   e.g. scripts/bench_same_python.sh --phases sleep --concurrency 32 --rounds 7
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/fanferro_env.sh > /dev/null
PYTHON=${FANFERRO_CACHE:-$PWD/.cache/python3.13}/install/bin/python3.13
VENV=.venv-py313
OUT=.cache/bench-py313
if ! "$VENV/bin/python" -c "import microcosm_pubsub, moto, sqlalchemy" 2> /dev/null; then
	echo "bench_same_python: building $VENV with $("$PYTHON" --version)"
	rm -rf "$VENV"
	"$PYTHON" -m venv "$VENV"
	"$VENV/bin/pip" install -q -e '.[local,sql]'
fi
mkdir -p "$OUT"
exec "$VENV/bin/python" -m benchmarks.run --results "$OUT" --docs "$OUT/benchmarks.md" --plot "$OUT/concurrency.png" "$@"
