#!/usr/bin/env bash
# The README's run command, checked as a newcomer would use it: `dotnet run --project src/WebFrontend` must serve the
# demo page, /health/ready and the SSE endpoint within 15 s of starting (the build before it is not counted), then stop
# cleanly when asked to. The box running it may already use the quick start's ports (5080, 11111, 30000), so the
# command gets free ones, the way the README's "Ports" note says to choose others: nothing else is added to it.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/WebFrontend -nologo -v q
log=$(mktemp)
read -r http silo gateway < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
base="http://localhost:$http"
start=$(date +%s.%N)
# Its own process group, so the stop below reaches dotnet run and the app. A script's background jobs ignore
# SIGINT, so the stop is SIGTERM, which the host handles the same way (it is what docker stop sends).
setsid dotnet run --no-build --project src/WebFrontend -- --urls "$base" --Orleans:SiloPort "$silo" --Orleans:GatewayPort "$gateway" > "$log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 150); do
  if curl -fs -o /dev/null "$base/" && curl -fs -o /dev/null "$base/health/ready"; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
if [ -z "$ready" ]; then
  echo "fresh run: not serving / and /health/ready within 15 s" >&2; cat "$log" >&2; kill -- "-$pid" 2>/dev/null || true; exit 1
fi
first=$(timeout 5 curl -fsN -H 'Accept: text/event-stream' "$base/api/cache-events" | head -c 200 || true)
case "$first" in
  *"event: connected"*) ;;
  *) echo "fresh run: the SSE endpoint did not send 'connected' (got: $first)" >&2; kill -- "-$pid"; exit 1 ;;
esac
kill -TERM -- "-$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "fresh run: did not stop within 10 s of SIGTERM" >&2; kill -9 -- "-$pid"; exit 1; fi
echo "fresh run: serving /, /health/ready and SSE ${elapsed} s after start (ports $http, $silo, $gateway); stopped cleanly"
