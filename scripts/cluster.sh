#!/usr/bin/env bash
# The docker-compose topology as local processes, for machines without a Docker engine and for tests:
# a redis-server on 127.0.0.1 and N silos, each with its web frontend, clustered through Redis.
#
#   scripts/cluster.sh up [N]     start (default 3 silos); prints one frontend URL per line when all answer
#   scripts/cluster.sh down       stop the silos, and redis-server if this script started it
#   scripts/cluster.sh kill I     kill -9 silo I (0-based), as a crash would
#
# Environment (all optional): CLUSTER_DIR (state and logs, default scripts/.cluster), CLUSTER_ID, REDIS_PORT (6379),
# HTTP_PORTS / SILO_PORTS / GATEWAY_PORTS (space-separated, one per silo; default 5081.., 11111.., 30000..),
# SILO_ARGS (extra arguments for every silo), CONFIGURATION (Release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CLUSTER_DIR:-$root/scripts/.cluster}
redis_port=${REDIS_PORT:-6379}
configuration=${CONFIGURATION:-Release}
exe=$root/src/WebFrontend/bin/$configuration/net10.0/CountCachula.WebFrontend

up() {
  local n=${1:-3}
  mkdir -p "$dir"
  command -v redis-server >/dev/null || { echo "redis-server is not installed: apt-get install -y redis-server" >&2; exit 1; }
  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  [ -x "$exe" ] || dotnet build "$root/src/WebFrontend" -c "$configuration" -nologo -v q >&2
  local -a http silo gateway
  read -r -a http <<< "${HTTP_PORTS:-$(seq -s ' ' 5081 $((5080 + n)))}"
  read -r -a silo <<< "${SILO_PORTS:-$(seq -s ' ' 11111 $((11110 + n)))}"
  read -r -a gateway <<< "${GATEWAY_PORTS:-$(seq -s ' ' 30000 $((29999 + n)))}"
  local cluster=${CLUSTER_ID:-local-$(date +%s)}
  for i in $(seq 0 $((n - 1))); do
    # shellcheck disable=SC2086
    ASPNETCORE_ENVIRONMENT=Production nohup "$exe" --urls "http://127.0.0.1:${http[$i]}" \
      --Orleans:Membership Redis --Orleans:Redis "127.0.0.1:$redis_port" --Orleans:ClusterId "$cluster" \
      --Orleans:SiloPort "${silo[$i]}" --Orleans:GatewayPort "${gateway[$i]}" \
      --CountCachula:AllowRemotePublishing true ${SILO_ARGS:-} > "$dir/silo$i.log" 2>&1 &
    echo $! > "$dir/silo$i.pid"
  done
  for i in $(seq 0 $((n - 1))); do
    local ok=""
    for _ in $(seq 600); do
      if curl -fs -o /dev/null "http://127.0.0.1:${http[$i]}/health/ready"; then ok=1; break; fi
      kill -0 "$(cat "$dir/silo$i.pid")" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$ok" ] || { echo "silo $i did not start; see $dir/silo$i.log" >&2; tail -20 "$dir/silo$i.log" >&2; down; exit 1; }
    echo "http://127.0.0.1:${http[$i]}"
  done
}

down() {
  for pidfile in "$dir"/silo*.pid; do
    [ -e "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  if [ -e "$dir/redis.pid" ]; then
    kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    rm -f "$dir/redis.pid"
  fi
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  down) down ;;
  kill) kill -9 "$(cat "$dir/silo${2:?which silo}.pid")" ;;
  *) echo "usage: $0 up [N] | down | kill I" >&2; exit 2 ;;
esac
