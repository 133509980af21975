#!/usr/bin/env bash
# The adopter's path, checked end to end: pack the four packages into a fresh folder feed, build both samples against
# them (package references, not project references), publish the own-app sample and check that none of the host's
# dependencies came along, then run it and the client-only web tier sample beside it, and see one invalidation, sent by
# the publisher sample through Orleans, arrive on both SSE streams. Prints one line; the logs are kept in the work folder it names when something fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

work=$(mktemp -d)
log="$work/samples-check.log"
app=""
tier=""
fail() {
  echo "samples: FAILED — $1 (logs: $work)" >&2
  tail -n 40 "$log" >&2 || true
  [ -n "$tier" ] && kill -- "-$tier" 2>/dev/null || true
  [ -n "$app" ] && kill -- "-$app" 2>/dev/null || true
  exit 1
}

# A version no earlier run used, so NuGet's global package cache can never hand back stale packages.
suffix="check.$(date +%s)"
version="$(dotnet msbuild src/AspNetCore -getProperty:VersionPrefix)-$suffix"

# The samples and the feed side by side, as samples/nuget.config expects them (../artifacts/packages).
cp -r samples "$work/samples"
cp global.json "$work/"
dotnet pack CountCachula.sln -c Release -o "$work/artifacts/packages" --version-suffix "$suffix" -nologo >> "$log" 2>&1 || fail "dotnet pack"
for p in CountCachula.Grains.Interfaces CountCachula.Runtime CountCachula.Grains CountCachula.AspNetCore CountCachula.Transactions; do
  [ -f "$work/artifacts/packages/$p.$version.nupkg" ] || fail "no $p.$version.nupkg"
done

for s in OwnApp WebTier Publisher; do
  dotnet build "$work/samples/$s" -c Release -p:CountCachulaVersion="$version" -nologo >> "$log" 2>&1 || fail "building samples/$s"
done
dotnet publish "$work/samples/OwnApp" -c Release -p:CountCachulaVersion="$version" -o "$work/publish" -nologo >> "$log" 2>&1 || fail "publishing samples/OwnApp"
unwanted=$(cd "$work/publish" && ls | grep -iE 'redis|dashboard|openapi|prometheus|opentelemetry|webfrontend' || true)
[ -z "$unwanted" ] || fail "the published own app holds host-only files: $(echo $unwanted)"
files=$(ls "$work/publish" | wc -l)

# Free ports for everything (a developer's box may already use Orleans' 11111 and 30000): the own app's HTTP, silo
# and gateway ports, and the web tier's HTTP port. Bound together, so the four are distinct.
read -r port siloport gatewayport tierport < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
ASPNETCORE_ENVIRONMENT=Development setsid dotnet "$work/publish/OwnApp.dll" --urls "http://127.0.0.1:$port" \
  --Orleans:SiloPort "$siloport" --Orleans:GatewayPort "$gatewayport" >> "$work/ownapp.log" 2>&1 &
app=$!
for _ in $(seq 300); do
  curl -fs -o /dev/null -H 'Accept: text/event-stream' --max-time 1 "http://127.0.0.1:$port/api/cache-events/diagnostics" && break
  kill -0 "$app" 2>/dev/null || { cat "$work/ownapp.log" >> "$log"; fail "the own app exited at start"; }
  sleep 0.1
done

# The client-only web tier: no silo of its own, it connects to the own app's gateway.
ASPNETCORE_ENVIRONMENT=Development setsid dotnet "$work/samples/WebTier/bin/Release/net10.0/WebTier.dll" --urls "http://127.0.0.1:$tierport" \
  --Orleans:GatewayPort "$gatewayport" >> "$work/webtier.log" 2>&1 &
tier=$!

# Listen on both first; once both say 'connected', publish from the separate publisher process.
curl -sN -H 'Accept: text/event-stream' --max-time 90 "http://127.0.0.1:$port/api/cache-events?tags=sample-check" > "$work/stream.txt" 2>/dev/null &
listener=$!
for _ in $(seq 100); do grep -q "event: connected" "$work/stream.txt" 2>/dev/null && break; sleep 0.1; done
grep -q "event: connected" "$work/stream.txt" || fail "the own app's stream did not say 'connected'"
for _ in $(seq 300); do
  curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$tierport/api/cache-events/diagnostics" && break
  kill -0 "$tier" 2>/dev/null || { cat "$work/webtier.log" >> "$log"; fail "the web tier exited at start"; }
  sleep 0.1
done
curl -sN -H 'Accept: text/event-stream' --max-time 90 "http://127.0.0.1:$tierport/api/cache-events?tags=sample-check" > "$work/tier-stream.txt" 2>/dev/null &
tierlistener=$!
for _ in $(seq 100); do grep -q "event: connected" "$work/tier-stream.txt" 2>/dev/null && break; sleep 0.1; done
grep -q "event: connected" "$work/tier-stream.txt" || fail "the web tier's stream did not say 'connected'"

# The publisher's command-line arguments are its tags, so its gateway port comes from the environment.
Orleans__GatewayPort="$gatewayport" dotnet "$work/samples/Publisher/bin/Release/net10.0/Publisher.dll" sample-check >> "$log" 2>&1 || fail "the publisher sample"
for f in stream.txt tier-stream.txt; do
  for _ in $(seq 100); do grep -q "data: sample-check" "$work/$f" 2>/dev/null && break; sleep 0.1; done
done
kill "$listener" "$tierlistener" 2>/dev/null || true
grep -A1 "event: invalidate" "$work/stream.txt" | grep -q "data: sample-check" || { cat "$work/stream.txt" >> "$log"; fail "no 'invalidate' of sample-check arrived at the own app"; }
grep -A1 "event: invalidate" "$work/tier-stream.txt" | grep -q "data: sample-check" || { cat "$work/tier-stream.txt" "$work/webtier.log" >> "$log"; fail "no 'invalidate' of sample-check arrived at the web tier"; }

kill -TERM -- "-$tier"
for _ in $(seq 100); do kill -0 "$tier" 2>/dev/null || break; sleep 0.1; done
kill -0 "$tier" 2>/dev/null && { kill -9 -- "-$tier"; fail "the web tier did not stop within 10 s of SIGTERM"; }
tier=""
kill -TERM -- "-$app"
for _ in $(seq 100); do kill -0 "$app" 2>/dev/null || break; sleep 0.1; done
kill -0 "$app" 2>/dev/null && { kill -9 -- "-$app"; fail "the own app did not stop within 10 s of SIGTERM"; }
app=""
rm -rf "$work"
echo "samples: packed $version; OwnApp, WebTier and Publisher built from the packages; OwnApp publishes $files files, none host-only; an invalidation from Publisher arrived on OwnApp's and WebTier's streams"
