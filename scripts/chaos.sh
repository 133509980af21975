#!/usr/bin/env bash
# The chaos run: ROUNDS (default 20) rounds of a random kill -9, SIGSTOP or graceful restart of one of three silos,
# under load (600 EventSource clients behind nginx, 20 publishes/s), in the cluster of scripts/cluster.sh; it fails
# unless every accepted event reached every client that wants it, ids only rose and no connect was answered non-200.
# Prints each round and how long its clients took to connect elsewhere; the full log goes to artifacts/chaos.log.
#   scripts/chaos.sh [ROUNDS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
dotnet build tests/CountCachula.Tests -c Release -nologo -v q > artifacts/chaos-build.log 2>&1 || { tail -20 artifacts/chaos-build.log; exit 1; }
status=0
COUNTCACHULA_CHAOS_ROUNDS=${1:-20} COUNTCACHULA_CHAOS_SEED=${2:-} dotnet test tests/CountCachula.Tests -c Release --no-build \
  --filter "FullyQualifiedName~Crash.ChaosTests" --logger "console;verbosity=detailed" > artifacts/chaos.log 2>&1 || status=$?
grep -E "^ (chaos|round|clients|kill ->|202 ->|accepted|publisher|stream connects)" artifacts/chaos.log | sed 's/^ //' || true
grep -E "^\s+(Passed|Failed) " artifacts/chaos.log | sed 's/^\s*//' || true
exit "$status"
