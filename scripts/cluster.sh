#!/usr/bin/env bash
# The docker-compose topology as local processes, for machines without a Docker engine and for tests: a redis-server
# on 127.0.0.1, N silos (each with its web frontend) clustered through it, and nginx in front of them, so a browser or
# EventSource uses one URL and fails over by itself when a silo dies.
#
#   scripts/cluster.sh up [N]     start (default 3 silos); when every silo is ready and the balancer answers, prints
#                                 the balancer's URL first, then one URL per silo (stdout), and how to get a token
#   scripts/cluster.sh token ...  mint a token for this cluster: --tenant T --tags "a b:*"|"*" [--publish] [--admin]
#                                 [--minutes M] (a subscriber's token needs --tags; "*" is every tag)
#   scripts/cluster.sh kill I     kill -9 silo I (0-based), as a crash would
#   scripts/cluster.sh restart I  stop silo I gracefully (SIGTERM), start it again, return once it is ready
#   scripts/cluster.sh freeze I   SIGSTOP silo I, as a hung process or a long pause would; `thaw I` sends SIGCONT
#   scripts/cluster.sh down       stop nginx and the silos (TERM, KILL after DOWN_TIMEOUT s), wait until they have
#                                 exited, then stop redis-server if this script started it
#
# The silos run in Production with authentication on. Their signing key and API key come from COUNTCACHULA_SIGNING_KEY
# and COUNTCACHULA_API_KEY (tenant COUNTCACHULA_API_TENANT, default "default") when set, as for docker compose;
# otherwise `up` generates random ones into $CLUSTER_DIR/auth.env (mode 600), which `token` reads.
# The silos talk to each other over mutual TLS (CountCachula:Cluster:Tls), as a Production silo listening beyond
# loopback must: with the CA and node certificate in COUNTCACHULA_TLS_DIR (ca.pem, node.pem, node.key) when set,
# otherwise with ones the first `up` generates into $CLUSTER_DIR/tls (scripts/cluster-certs.sh, openssl).
#
# Environment (all optional): CLUSTER_DIR (state and logs, default scripts/.cluster), CLUSTER_ID, REDIS_PORT (6379),
# BALANCER_PORT (8080), HTTP_PORTS / SILO_PORTS / GATEWAY_PORTS (space-separated, one per silo; default 5081..,
# 11111.., 30000..), SILO_ARGS (extra arguments for every silo), CONFIGURATION (Release), DOWN_TIMEOUT (30),
# HEARTBEAT_MS (500: ms between heartbeats, below 60000; nginx moves the streams of a silo silent for three times as long).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CLUSTER_DIR:-$root/scripts/.cluster}
redis_port=${REDIS_PORT:-6379}
balancer_port=${BALANCER_PORT:-8080}
configuration=${CONFIGURATION:-Release}
down_timeout=${DOWN_TIMEOUT:-30}
# Every stream hears from its silo at least this often (milliseconds); the balancer takes a silo that stays silent for
# three times as long as frozen and moves its streams (deploy/nginx.local.conf.template).
heartbeat_ms=${HEARTBEAT_MS:-500}
frontend=$root/src/WebFrontend
exe=$frontend/bin/$configuration/net10.0/CountCachula.WebFrontend

generated=""

# Whether process $1 runs: an exited process that its parent has not reaped yet (a zombie) does not count.
running() {
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != "Z" ]
}

alive() { [ -e "$1" ] && running "$(cat "$1")"; }

# Waits until the process of pid file $1 has exited (TERM first unless $2 is "nosignal", KILL after DOWN_TIMEOUT s),
# and only then removes the pid file: a process that is still running always keeps its pid file.
stop_pid() {
  local pidfile=$1 pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((down_timeout * 10))); do running "$pid" || break; sleep 0.1; done
  if running "$pid"; then
    echo "$(basename "$pidfile" .pid) (pid $pid) did not exit within ${down_timeout} s of SIGTERM; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
  fi
  if running "$pid"; then
    echo "$(basename "$pidfile" .pid) (pid $pid) is still running; keeping $pidfile" >&2
    return 1
  fi
  rm -f "$pidfile"
}

credentials() {
  if [ -n "${COUNTCACHULA_SIGNING_KEY:-}" ] && [ -n "${COUNTCACHULA_API_KEY:-}" ]; then
    return
  fi
  generated=1
  if [ ! -e "$dir/auth.env" ]; then
    (
      umask 077
      {
        echo "COUNTCACHULA_SIGNING_KEY=$(head -c 48 /dev/urandom | base64 -w0)"
        echo "COUNTCACHULA_API_KEY=$(head -c 24 /dev/urandom | base64 -w0 | tr '+/' '-_')"
      } > "$dir/auth.env"
    )
  fi
  # shellcheck disable=SC1091
  . "$dir/auth.env"
}

# The cluster's TLS files: COUNTCACHULA_TLS_DIR, or a CA and node certificate made in $dir/tls on first use.
certificates() {
  tls_dir=${COUNTCACHULA_TLS_DIR:-$dir/tls}
  [ -n "${COUNTCACHULA_TLS_DIR:-}" ] || bash "$root/scripts/cluster-certs.sh" "$tls_dir" node
  for f in ca.pem node.pem node.key; do
    [ -r "$tls_dir/$f" ] || { echo "no $tls_dir/$f: the cluster's TLS needs ca.pem, node.pem and node.key there (scripts/cluster-certs.sh makes them)" >&2; exit 1; }
  done
}

up() {
  local n=${1:-3}
  mkdir -p "$dir"
  command -v redis-server >/dev/null || { echo "redis-server is not installed: apt-get install -y redis-server" >&2; exit 1; }
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is not installed: apt-get install -y nginx" >&2; exit 1; }
  for pidfile in "$dir"/silo*.pid "$dir/nginx.pid"; do
    if alive "$pidfile"; then echo "a cluster is already running from $dir ($pidfile); run '$0 down' first" >&2; exit 1; fi
  done
  rm -f "$dir"/silo*.pid "$dir/nginx.pid" "$dir"/silo*.log
  credentials
  certificates

  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  [ -x "$exe" ] || dotnet build "$frontend" -c "$configuration" -nologo -v q >&2
  local -a http silo gateway
  read -r -a http <<< "${HTTP_PORTS:-$(seq -s ' ' 5081 $((5080 + n)))}"
  read -r -a silo <<< "${SILO_PORTS:-$(seq -s ' ' 11111 $((11110 + n)))}"
  read -r -a gateway <<< "${GATEWAY_PORTS:-$(seq -s ' ' 30000 $((29999 + n)))}"
  local cluster=${CLUSTER_ID:-local-$(date +%s)}
  # What `restart I` needs to start silo I again as it was.
  {
    echo "cluster=$cluster"
    echo "redis_port=$redis_port"
    echo "http_ports='${http[*]}'"
    echo "silo_ports='${silo[*]}'"
    echo "gateway_ports='${gateway[*]}'"
  } > "$dir/cluster.env"
  for i in $(seq 0 $((n - 1))); do start_silo "$i"; done
  for i in $(seq 0 $((n - 1))); do
    wait_ready "$i" || { down; exit 1; }
  done

  local streams="" others=""
  for i in $(seq 0 $((n - 1))); do
    streams="${streams}server 127.0.0.1:${http[$i]} max_fails=0; "
    others="${others}server 127.0.0.1:${http[$i]} max_fails=1 fail_timeout=2s; "
  done
  mkdir -p "$dir/nginx-body" "$dir/nginx-proxy" "$dir/nginx-fastcgi" "$dir/nginx-uwsgi" "$dir/nginx-scgi"
  sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$balancer_port|g" -e "s|@STREAM_SERVERS@|$streams|" -e "s|@SERVERS@|$others|" \
    -e "s|@HEARTBEAT@|${heartbeat_ms}ms|g" -e "s|@READ_TIMEOUT@|$((heartbeat_ms * 3))ms|g" \
    "$root/deploy/nginx.local.conf.template" > "$dir/nginx.conf"
  local nginx_bin
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  "$nginx_bin" -q -p "$dir" -e "$dir/nginx-error.log" -c "$dir/nginx.conf" \
    || { echo "nginx did not start; see $dir/nginx-error.log" >&2; down; exit 1; }
  local ok=""
  for _ in $(seq 100); do
    if curl -fs -o /dev/null "http://127.0.0.1:$balancer_port/health/ready"; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "the balancer on port $balancer_port does not answer; see $dir/nginx-error.log" >&2; down; exit 1; }

  echo "http://127.0.0.1:$balancer_port"
  for i in $(seq 0 $((n - 1))); do echo "http://127.0.0.1:${http[$i]}"; done
  {
    echo "balancer: http://127.0.0.1:$balancer_port (nginx; use this URL) — silos: ${http[*]/#/127.0.0.1:}"
    if [ -n "$generated" ]; then
      echo "credentials: $dir/auth.env (a signing key and an API key generated for this cluster; set"
      echo "  COUNTCACHULA_SIGNING_KEY and COUNTCACHULA_API_KEY to use your own)"
    fi
    echo "cluster TLS: silos and gateways take only certificates signed by $tls_dir/ca.pem (a client web tier:"
    echo "  --Orleans:Mode Client with CountCachula:Cluster:Tls:CertificatePath/KeyPath/CaCertificatePath from $tls_dir)"
    local source=""
    [ -n "$generated" ] && source=". $dir/auth.env; "
    echo "subscribe: curl -N \"http://127.0.0.1:$balancer_port/api/cache-events?access_token=\$($0 token --tenant ${COUNTCACHULA_API_TENANT:-default} --tags '*')\""
    echo "publish:   ${source}curl -X POST -H \"X-Api-Key: \$COUNTCACHULA_API_KEY\" -H 'Content-Type: application/json' \\"
    echo "             -d '{\"tags\":[\"item:1\"]}' http://127.0.0.1:$balancer_port/api/cache/invalidate"
    echo "tokens: $0 token --tenant ${COUNTCACHULA_API_TENANT:-default} --publish (a publisher's), --admin (an operator's:"
    echo "  /dashboard, diagnostics, /metrics)"
  } >&2
}

# Starts silo $1 with the ports and cluster id `up` chose (in $dir/cluster.env), in the background.
start_silo() {
  local i=$1
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  local -a http silo gateway
  read -r -a http <<< "$http_ports"
  read -r -a silo <<< "$silo_ports"
  read -r -a gateway <<< "$gateway_ports"
  # The frontend's folder is the content root, so its appsettings.json (log levels among others) is loaded. The
  # credentials travel in the environment, not the command line, so `ps` does not show them. Every browser
  # arrives through nginx, so the per-address connection limit would count them all as one client (as in compose).
  # The token `cluster.sh token` mints names no subject, and load runs hand that one token to every simulated
  # browser, so the per-credential stream limit is lifted here too (a real deployment keeps it).
  # Redis membership makes the silo listen on every address, so it needs TLS (or AllowInsecure) in Production.
  # shellcheck disable=SC2086
  (unset HTTP_PORTS HTTPS_PORTS; cd "$frontend" && ASPNETCORE_ENVIRONMENT=Production \
    CountCachula__Auth__SigningKey="$COUNTCACHULA_SIGNING_KEY" \
    CountCachula__Auth__ApiKeys__0__Key="$COUNTCACHULA_API_KEY" \
    CountCachula__Auth__ApiKeys__0__Tenant="${COUNTCACHULA_API_TENANT:-default}" \
    CountCachula__Cluster__Tls__CertificatePath="$tls_dir/node.pem" \
    CountCachula__Cluster__Tls__KeyPath="$tls_dir/node.key" \
    CountCachula__Cluster__Tls__CaCertificatePath="$tls_dir/ca.pem" \
    exec nohup "$exe" --contentRoot "$frontend" --urls "http://127.0.0.1:${http[$i]}" \
      --Orleans:Membership Redis --Orleans:Redis "127.0.0.1:$redis_port" --Orleans:ClusterId "$cluster" \
      --Orleans:SiloPort "${silo[$i]}" --Orleans:GatewayPort "${gateway[$i]}" \
      --CountCachula:AllowRemotePublishing true --CountCachula:MaxConnectionsPerIp 0 \
      --CountCachula:MaxConnectionsPerCredential 0 \
      --CountCachula:HeartbeatInterval "$(printf '00:00:%02d.%03d' $((heartbeat_ms / 1000)) $((heartbeat_ms % 1000)))" ${SILO_ARGS:-} \
      >> "$dir/silo$i.log" 2>&1) &
  echo $! > "$dir/silo$i.pid"
}

# Waits until silo $1 answers /health/ready (60 s at most); false, with the end of its log, when it does not.
wait_ready() {
  local i=$1
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  local -a http
  read -r -a http <<< "$http_ports"
  for _ in $(seq 600); do
    curl -fs -o /dev/null "http://127.0.0.1:${http[$i]}/health/ready" && return 0
    alive "$dir/silo$i.pid" || break
    sleep 0.1
  done
  echo "silo $i did not become ready; see $dir/silo$i.log" >&2
  tail -20 "$dir/silo$i.log" >&2
  return 1
}

# Stops silo $1 gracefully (SIGTERM: it sends its streams elsewhere and hands its grains over), waits until it has
# exited, starts it again with the same ports, and returns once it is ready.
restart_silo() {
  local i=${1:?which silo}
  [ -e "$dir/cluster.env" ] || { echo "no cluster in $dir; run '$0 up' first" >&2; exit 1; }
  credentials
  certificates
  if alive "$dir/silo$i.pid"; then stop_pid "$dir/silo$i.pid" || exit 1; fi
  start_silo "$i"
  wait_ready "$i" || exit 1
}

# Sends signal $2 to silo $1 (STOP freezes it as a hung process would, CONT thaws it).
signal_silo() {
  local pidfile=$dir/silo${1:?which silo}.pid
  alive "$pidfile" || { echo "silo $1 is not running (no live pid in $pidfile)" >&2; exit 1; }
  kill "-$2" "$(cat "$pidfile")"
}

token() {
  if [ -z "${COUNTCACHULA_SIGNING_KEY:-}" ]; then
    [ -e "$dir/auth.env" ] || { echo "no $dir/auth.env and no COUNTCACHULA_SIGNING_KEY; run '$0 up' first" >&2; exit 1; }
    # shellcheck disable=SC1091
    . "$dir/auth.env"
  fi
  [ -x "$exe" ] || dotnet build "$frontend" -c "$configuration" -nologo -v q >&2
  CountCachula__Auth__SigningKey="$COUNTCACHULA_SIGNING_KEY" "$exe" mint-token "$@"
}

down() {
  local failed=0
  # The balancer first (no new requests reach the silos), then the silos, each waited for; Redis last, because a silo
  # that is still shutting down writes its membership entry there.
  [ -e "$dir/nginx.pid" ] && { stop_pid "$dir/nginx.pid" || failed=1; }
  local pids=()
  for pidfile in "$dir"/silo*.pid; do
    [ -e "$pidfile" ] || continue
    kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
    pids+=("$pidfile")
  done
  for pidfile in "${pids[@]}"; do stop_pid "$pidfile" || failed=1; done
  if [ "$failed" -eq 0 ] && [ -e "$dir/redis.pid" ]; then
    stop_pid "$dir/redis.pid" || failed=1
  fi
  return "$failed"
}

kill_silo() {
  local pidfile=$dir/silo${1:?which silo}.pid
  alive "$pidfile" || { echo "silo $1 is not running (no live pid in $pidfile)" >&2; exit 1; }
  local pid
  pid=$(cat "$pidfile")
  kill -KILL "$pid"
  for _ in $(seq 100); do running "$pid" || break; sleep 0.05; done
  rm -f "$pidfile"
}

case "${1:-}" in
  up) up "${2:-3}" ;;
  token) shift; token "$@" ;;
  down) down ;;
  kill) kill_silo "${2:-}" ;;
  restart) restart_silo "${2:-}" ;;
  freeze) signal_silo "${2:-}" STOP ;;
  thaw) signal_silo "${2:-}" CONT ;;
  *) echo "usage: $0 up [N] | token --tenant T --tags \"*\" [--publish] [--admin] | kill I | restart I | freeze I | thaw I | down" >&2; exit 2 ;;
esac
