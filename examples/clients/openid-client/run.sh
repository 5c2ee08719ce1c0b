#!/bin/sh
# Runs test.mjs against a fresh issuer of tenant.yaml, as .ci/run does:
# builds scopeline, serves tenant.yaml on a free loopback port (the
# embedded NATS server listening nowhere), installs openid-client from the
# committed lockfile, runs the tests, and stops the issuer.
#
#   examples/clients/openid-client/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
tmp=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

(cd "$root" && go build -o "$tmp/scopeline" ./cmd/scopeline)
"$tmp/scopeline" serve --config "$here/tenant.yaml" --addr 127.0.0.1:0 --nats-listen off \
  --data-dir "$tmp/data" --log-format json >"$tmp/log" 2>&1 &
pid=$!

# Wait (up to a minute) for the line that says where it listens.
addr=
for _ in $(seq 1 600); do
  addr=$(sed -n 's/.*"msg":"scopeline serving","addr":"\([^"]*\)".*/\1/p' "$tmp/log")
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "run.sh: the issuer did not start:" >&2
  cat "$tmp/log" >&2
  exit 1
fi

cd "$here"
npm ci --no-audit --no-fund --prefer-offline
status=0
SCOPELINE_ISSUER="http://$addr/" node --test || status=$?
if [ "$status" -ne 0 ]; then
  echo "run.sh: the issuer's log:" >&2
  cat "$tmp/log" >&2
fi
exit "$status"
