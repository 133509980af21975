#!/usr/bin/env bash
# What can be checked of the container image without a Docker engine: the Dockerfile's own `RUN dotnet ...` commands,
# run as written on a copy of the build context (files .dockerignore leaves out are left out), then the published app
# started as the runtime stage starts it, until the image's HEALTHCHECK command reports it ready.
# Not checked here: the base images, `USER $APP_UID`, and the image itself (no engine on this machine).
#   deploy/check-image.sh        prints one line; the details go to artifacts/image-check.log
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mkdir -p artifacts
log=$root/artifacts/image-check.log
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "image check: FAILED ($1); see $log" >&2; exit 1; }

# The build context: the repository's files less .dockerignore's (its patterns read as tar exclusions).
excludes=()
while IFS= read -r pattern; do
  case "$pattern" in ''|'#'*) continue ;; esac
  pattern=${pattern%/}
  case "$pattern" in
    '**/'*) excludes+=("--exclude=${pattern#\*\*/}") ;;
    *) excludes+=("--exclude=./$pattern") ;;
  esac
done < .dockerignore
mkdir -p "$work/context" "$work/projects" "$work/build" "$work/app"
git ls-files -co --exclude-standard -z | xargs -0 -I{} sh -c 'test -e "{}" && printf "./%s\0" "{}"' \
  | tar -c "${excludes[@]}" --null -T - -f - | tar -x -C "$work/context"

# The Dockerfile's stages, command by command: the projects stage's `find`, then every `RUN dotnet` of the build stage
# with its /src working directory and /app output moved under $work.
find_line=$(sed -n 's/^RUN \(find .*\)$/\1/p' Dockerfile)
cp -a "$work/context/." "$work/projects/"
(cd "$work/projects" && eval "$find_line")
cp -a "$work/projects/." "$work/build/"
mapfile -t commands < <(sed -n 's/^RUN \(dotnet .*\)$/\1/p' Dockerfile)
[ "${#commands[@]}" -ge 2 ] || fail "expected a restore and a publish RUN in the Dockerfile"
{
  echo "== ${commands[0]}"
  (cd "$work/build" && eval "${commands[0]//\/app\//$work/app/}")
  cp -a "$work/context/." "$work/build/"
  for command in "${commands[@]:1}"; do
    echo "== $command"
    (cd "$work/build" && eval "${command//\/app\//$work/app/}")
  done
} > "$log" 2>&1 || fail "restore or publish"

# The runtime stage: ENTRYPOINT with the image's environment, and its HEALTHCHECK command, until it passes.
# Three distinct free ports at once (HTTP, silo, gateway): sockets held open together, so the kernel cannot hand the
# same port out twice, as separate look-ups once did (the silo took the HTTP port and Kestrel failed to bind).
read -r http silo_port gateway_port < <(python3 -c 'import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
exe=$work/app/publish/CountCachula.WebFrontend
[ -x "$exe" ] || fail "no CountCachula.WebFrontend in the published output"
(cd "$work/app/publish" && ASPNETCORE_HTTP_PORTS=$http CountCachula__Auth__SigningKey=image-check-signing-key-0123456789abcdef \
  exec "$exe" --Orleans:SiloPort "$silo_port" --Orleans:GatewayPort "$gateway_port" --Orleans:ClusterId "image-check-$$") >> "$log" 2>&1 &
pid=$!
healthy=""
start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt 60 ]; do
  if ASPNETCORE_HTTP_PORTS=$http "$exe" healthcheck >> "$log" 2>&1; then healthy=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
[ -n "$healthy" ] || fail "the published app did not pass its HEALTHCHECK within 60 s"
kill -TERM "$pid"
wait "$pid" || fail "the published app did not stop cleanly on SIGTERM"
pid=""
size=$(du -sm "$work/app/publish" | cut -f1)
echo "image check: restore --locked-mode and publish as the Dockerfile runs them, ${size} MB published, HEALTHCHECK passed after $(( $(date +%s) - start )) s, stopped on SIGTERM"
