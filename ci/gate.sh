#!/usr/bin/env bash
# The CI gate: run a phase and fail the job when a threshold or the regression check fails.
# Usage: ci/gate.sh [phase2] [extra harness flags, e.g. --baseline path/summary.json --max-regression 10%]
# Exit codes are the harness's: 0 pass, 1 a threshold failed, 2 setup or usage error.
set -euo pipefail
cd "$(dirname "$0")/.."
phase="${1:-phase2}"
shift || true
cargo run --release --locked -p harness -- "$phase" "$@"
