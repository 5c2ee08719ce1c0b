#!/usr/bin/env bash
# Three `scopeline serve` replicas on this machine whose embedded NATS
# servers form one JetStream cluster (R3). The replicas read their tenant
# from the cluster's tenant store (--tenant-source nats), and the script
# pushes the demo tenant there; the signing keys, sessions, codes, refresh
# tokens, replay caches and failure throttles are shared through NATS too.
# It gets a token from each replica, shows that all three sign with the
# same key, and stops them when you press Enter (or at once with --check,
# as CI runs it).
#
#   examples/cluster/run.sh           # from the repository's root
#   examples/cluster/run.sh --check   # start, check, stop
#
# Replica i listens for HTTP on 127.0.0.1:808i, for local NATS readers on
# 127.0.0.1:423i and for the other members' routes on 127.0.0.1:623i. A
# load balancer would sit in front on the issuer URL, http://localhost:8080/.
set -euo pipefail

check=false
[[ "${1:-}" == "--check" ]] && check=true

root=$(cd "$(dirname "$0")/../.." && pwd)
work=${SCOPELINE_CLUSTER_DIR:-$(mktemp -d)}
bin=$work/scopeline
echo "building scopeline into $work"
(cd "$root" && go build -o "$bin" ./cmd/scopeline)

# One key-encryption key for every replica: it seals the private signing
# keys in NATS. In production each machine gets it from a secret store.
[[ -f $work/kek ]] || "$bin" keys new-kek --out "$work/kek"

routes=nats-route://127.0.0.1:6231,nats-route://127.0.0.1:6232,nats-route://127.0.0.1:6233
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# The replicas start with no tenant: each forms the NATS cluster with the
# others, makes (or checks) the buckets, and waits for a first push.
for i in 1 2 3; do
	mkdir -p "$work/r$i"
	"$bin" serve --tenant-source nats \
		--addr 127.0.0.1:808$i --issuer http://localhost:8080/ \
		--data-dir "$work/r$i" --nats-listen 127.0.0.1:423$i \
		--cluster-name scopeline-example --cluster-listen 127.0.0.1:623$i --cluster-routes "$routes" \
		--instance replica-$i --kek-file "$work/kek" \
		>"$work/r$i.log" 2>&1 &
	pids+=($!)
done

# Push the demo tenant through replica 1's NATS server (with the
# administrator key it keeps in its data directory), once the cluster
# has formed and made the tenant store.
echo "pushing the demo tenant to the cluster's tenant store"
pushed=false
for _ in $(seq 300); do
	if "$bin" tenant push --data-dir "$work/r1" --by example "$root/engine/demo/tenant.yaml" >"$work/push.log" 2>&1; then
		pushed=true
		break
	fi
	kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/r1.log"; exit 1; }
	sleep 0.2
done
$pushed || { echo "the push did not succeed:"; cat "$work/push.log" "$work/r1.log"; exit 1; }
cat "$work/push.log"

echo "waiting for the three replicas (the cluster elects its leaders first)"
for i in 1 2 3; do
	for _ in $(seq 600); do
		curl -fs -o /dev/null http://127.0.0.1:808$i/healthz/ready && break
		kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { cat "$work/r$i.log"; exit 1; }
		sleep 0.1
	done
	curl -fsS -o /dev/null http://127.0.0.1:808$i/healthz/ready || { echo "replica $i is not ready"; cat "$work/r$i.log"; exit 1; }
done

kids=()
for i in 1 2 3; do
	token=$(curl -fsS -u demo-m2m:demo-m2m-secret \
		-d grant_type=client_credentials -d audience=https://api.example.com -d scope=read:users \
		http://127.0.0.1:808$i/oauth/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
	header=$(cut -d. -f1 <<<"$token" | tr '_-' '/+')
	while (( ${#header} % 4 )); do header+="="; done
	kid=$(base64 -d <<<"$header" | sed -E 's/.*"kid":"([^"]+)".*/\1/')
	echo "replica $i issued a token signed with key $kid"
	kids+=("$kid")
done
if [[ "${kids[0]}" != "${kids[1]}" || "${kids[1]}" != "${kids[2]}" ]]; then
	echo "the replicas sign with different keys: ${kids[*]}" >&2
	exit 1
fi
echo "all three replicas share one signing key; the audit stream has their events:"
"$bin" audit tail --url nats://127.0.0.1:4232 --follow=false --type issued | tail -n 3

$check && exit 0
echo
echo "logs in $work/r{1,2,3}.log; rotate the keys with"
echo "  $bin keys rotate --cluster --data-dir $work/r1 --kek-file $work/kek --force"
echo "and change the tenant of all three with"
echo "  $bin tenant push --data-dir $work/r1 FILE   (then: tenant history, diff, rollback)"
read -r -p "press Enter to stop the cluster "
