#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, runs every test, then a seconds-long
# benchmark smoke run so the benchmark tool keeps building and working (its figures are never asserted).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

dotnet build CountCachula.sln -c Release
dotnet test CountCachula.sln -c Release --no-build --logger "console;verbosity=normal" 2>&1 | tee /tmp/countcachula-test.log
if grep -q "Total tests: 0\|No test is available" /tmp/countcachula-test.log; then
  echo "no tests ran" >&2
  exit 1
fi
dotnet run -c Release --no-build --project bench/CountCachula.Bench -- --connections 20 --events 50 --rate 100 --warmup 20
