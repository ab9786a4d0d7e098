#!/usr/bin/env bash
# A local multi-process edgepath cluster without Docker (deploy/README.md):
#   redis-server + nats-server from PATH, N registrar processes, one edge, on 127.0.0.1.
# Usage: deploy/demo/local-cluster.sh [workers]      (run `pnpm exec tsc -b` first)
# Env:   SIP_PORT (5060), HTTP_PORT (8080, the edge; registrars use the next ports),
#        OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318 for a Jaeger all-in-one), EDGEPATH_AUTH (off)
# Ctrl-C stops everything (SIGTERM: graceful drain).
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS="${1:-2}"
SIP_PORT="${SIP_PORT:-5060}"
HTTP_PORT="${HTTP_PORT:-8080}"
REDIS_PORT="${REDIS_PORT:-16379}"
NATS_PORT="${NATS_PORT:-14222}"
MAIN=services/edgepath/dist/main.js
[[ -f "$MAIN" ]] || { echo "build first: pnpm exec tsc -b" >&2; exit 2; }
for bin in redis-server nats-server; do
  command -v "$bin" >/dev/null || { echo "$bin not on PATH (Debian: apt-get install redis-server nats-server)" >&2; exit 2; }
done
RUN_DIR="$(mktemp -d -t edgepath-demo.XXXXXX)"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "logs were in $RUN_DIR"
}
trap cleanup EXIT INT TERM

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$RUN_DIR/redis.log" 2>&1 & pids+=($!)
nats-server -a 127.0.0.1 -p "$NATS_PORT" >"$RUN_DIR/nats.log" 2>&1 & pids+=($!)

export EDGEPATH_SECRET="${EDGEPATH_SECRET:-local-demo-secret-0123456789abcdef}"
export EDGEPATH_DOMAINS="${EDGEPATH_DOMAINS:-example.com}"
export EDGEPATH_AUTH="${EDGEPATH_AUTH:-off}"
export NATS_URL="nats://127.0.0.1:$NATS_PORT"

wait_ready() { # url, name
  for _ in $(seq 1 100); do
    if node -e "fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" "$1"; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not become ready ($1); see $RUN_DIR" >&2; return 1
}

for i in $(seq 1 "$WORKERS"); do
  port=$((HTTP_PORT + i))
  EDGEPATH_NODE_ID="registrar-$i" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
  EDGEPATH_INTERNAL_LISTEN=127.0.0.1:0 EDGEPATH_HTTP_LISTEN="127.0.0.1:$port" \
    node "$MAIN" registrar >"$RUN_DIR/registrar-$i.log" 2>&1 & pids+=($!)
done
EDGEPATH_NODE_ID=edge-1 EDGEPATH_SIP_LISTEN="udp:127.0.0.1:$SIP_PORT,tcp:127.0.0.1:$SIP_PORT" \
EDGEPATH_INTERNAL_LISTEN=127.0.0.1:0 EDGEPATH_HTTP_LISTEN="127.0.0.1:$HTTP_PORT" \
  node "$MAIN" edge >"$RUN_DIR/edge.log" 2>&1 & pids+=($!)

wait_ready "http://127.0.0.1:$HTTP_PORT/readyz" edge
for i in $(seq 1 "$WORKERS"); do wait_ready "http://127.0.0.1:$((HTTP_PORT + i))/readyz" "registrar-$i"; done
cat <<INFO
edgepath demo up: 1 edge + $WORKERS registrars (logs: $RUN_DIR)
  SIP          udp/tcp 127.0.0.1:$SIP_PORT   (domain $EDGEPATH_DOMAINS, auth $EDGEPATH_AUTH)
  edge admin   http://127.0.0.1:$HTTP_PORT/metrics  /readyz
  registrars   http://127.0.0.1:$((HTTP_PORT + 1))..$((HTTP_PORT + WORKERS))   e.g. pnpm edgepath ctl ring --url=http://127.0.0.1:$((HTTP_PORT + 1))
  tracing      ${OTEL_EXPORTER_OTLP_ENDPOINT:-off (set OTEL_EXPORTER_OTLP_ENDPOINT)}
  try          sipp -sn uac -r 10 -m 100 ... or: sipp 127.0.0.1:$SIP_PORT -sf test/sipp/<register scenario>
INFO
wait -n "${pids[@]}" || true
