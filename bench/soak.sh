#!/usr/bin/env bash
# bench/soak.sh — a long mixed load through gatehouse, watching it for growth, stalls and unexpected errors.
#
#   bash bench/soak.sh [--minutes 30] [--out DIR] [--interval 5] [--pool-size 40]
#
# Builds a throwaway environment on 127.0.0.1 with bench/setup.mjs --soak (certificates, PostgreSQL 15 with ssl=on
# and hostssl + scram-sha-256 only) and starts gatehouse (`node dist/cli.js --config FILE`: TLS on both hops, pool
# soak_session in session pooling and soak_transaction in transaction pooling on the same database, web.enabled for
# /metrics, general.admin_password for the admin console). bench/soak-load.mjs then runs for --minutes: node-postgres
# workers (named prepared statements, simple queries, transactions) in both pools, postgres.js in transaction
# pooling, COPY FROM STDIN and COPY TO STDOUT of ≈ 3 MB each way in both pools, a cancelled pg_sleep every 5 s in
# both pools, a storm of 50 clients connecting at once every minute, the admin console every 30 s; this script
# sends gatehouse a SIGHUP every 30 s and restarts PostgreSQL (fast shutdown, then start) once, at the middle.
# Every --interval seconds soak-load.mjs samples gatehouse's RSS, heap, open descriptors, event-loop delay and CPU
# and the throughput (samples.csv). At the end bench/soak-report.mjs prints slopes per hour over the second half
# (after the restart), an ASCII chart per series and writes summary.md and chart.svg; the exit status is 1 when
# a threshold is crossed (see bench/README.md), an unexpected error occurred or gatehouse died.
# Results go to bench/results/soak-<UTC timestamp>/ (gitignored; --out to change). Needs `npm run build`.
# Environment: GATEHOUSE_LOG_LEVEL=warn, GATEHOUSE_NODE_ARGS (extra node options for gatehouse).
set -euo pipefail
BENCH_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_HOME/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$BENCH_HOME/lib.sh"

MINUTES=30; OUT=""; INTERVAL=5; POOL_SIZE=40
SIGHUP_EVERY=30
PG_BIN=/usr/lib/postgresql/15/bin
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES="${2:?}"; shift 2 ;;
    --out) OUT="${2:?}"; shift 2 ;;
    --interval) INTERVAL="${2:?}"; shift 2 ;;
    --pool-size) POOL_SIZE="${2:?}"; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ "$MINUTES" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--minutes takes a number, got $MINUTES"
SECONDS_TOTAL="$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')"
[ "$SECONDS_TOTAL" -ge 60 ] || die "--minutes must be at least 1"
[ -f "$ROOT/dist/cli.js" ] || die "dist/cli.js is missing: run npm run build first"
# The restart needs pg_ctl of the cluster's own version; the embedded PostgreSQL 18 would need its library path too.
[ -x "$PG_BIN/pg_ctl" ] || die "the soak needs the system PostgreSQL 15 ($PG_BIN; Debian: postgresql-15)"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$(mkdir -p "${OUT:-$BENCH_HOME/results/soak-$STAMP}" && cd "${OUT:-$BENCH_HOME/results/soak-$STAMP}" && pwd)"
WORK="$(mktemp -d /tmp/gatehouse-bench.XXXXXX)"
chmod 755 "$WORK" # the cluster's OS user must reach its data directory below it
SETUP_PID=""; GATEHOUSE_PID=""; LOAD_PID=""; STATE_LOADED=0; RESTARTED=0

# restarted_postmaster: the PID of the postmaster pg_ctl started after the restart (empty when none runs).
restarted_postmaster() {
  local pid
  [ "$RESTARTED" = 1 ] || return 0
  pid="$(head -1 "$PG_DATA_DIR/postmaster.pid" 2>/dev/null || true)"
  pid_is "$pid" "$PG_DATA_DIR" && echo "$pid"
  return 0
}

cleanup() {
  local rc=$? pid
  set +e
  trap '' INT TERM HUP
  [ -z "$LOAD_PID" ] || stop_pid "$LOAD_PID" "soak-load.mjs" 70
  [ -z "$GATEHOUSE_PID" ] || stop_pid "$GATEHOUSE_PID" "$SOAK_CONFIG" 15
  # After the restart the postmaster is pg_ctl's, not setup.mjs's child: stop it here (fast shutdown).
  pid="$(restarted_postmaster)"
  if [ -n "$pid" ]; then
    as_run_user "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" -m fast -w -t 30 stop >>"$OUT/postgres-restart.log" 2>&1 || kill -KILL "$pid"
  fi
  [ "$STATE_LOADED" = 0 ] || cp "$PG_DATA_DIR/restart.log" "$OUT/postgres-after-restart.log" 2>/dev/null
  [ -z "$SETUP_PID" ] || stop_pid "$SETUP_PID" "setup.mjs --work $WORK" 40
  rm -rf "$WORK"
  log "stopped everything this run started; results in $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted (SIGINT)"; exit 130' INT
trap 'log "terminated (SIGTERM)"; exit 143' TERM

# --- 1. certificates, cluster, configuration ------------------------------------------------------------------------
log "setting up in $WORK (certificates, PostgreSQL 15 cluster with TLS, gatehouse configuration)"
node "$BENCH_HOME/setup.mjs" --work "$WORK" --results "$OUT" --flavor system15 --pool-size "$POOL_SIZE" --soak \
  --log-level "${GATEHOUSE_LOG_LEVEL:-warn}" >"$OUT/setup.log" 2>&1 &
SETUP_PID=$!
await_setup "$SETUP_PID" "$WORK" "$OUT/setup.log"
# shellcheck source=/dev/null
. "$WORK/state.env"
STATE_LOADED=1
log "PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT, postmaster PID $POSTMASTER_PID"

# --- 2. gatehouse ---------------------------------------------------------------------------------------------------
read -r -a GATEHOUSE_NODE_ARGV <<<"${GATEHOUSE_NODE_ARGS:-}"
node "${GATEHOUSE_NODE_ARGV[@]}" "$ROOT/dist/cli.js" --config "$SOAK_CONFIG" >"$OUT/gatehouse.log" 2>&1 &
GATEHOUSE_PID=$!
if ! await_exec "$GATEHOUSE_PID" "$SOAK_CONFIG" || ! wait_listening "$SOAK_PORT" 30 "$GATEHOUSE_PID" "$SOAK_CONFIG"; then
  tail -40 "$OUT/gatehouse.log" >&2
  die "gatehouse did not start listening (its log is above)"
fi
wait_listening "$SOAK_WEB_PORT" 10 "$GATEHOUSE_PID" "$SOAK_CONFIG" || die "gatehouse's web listener is not up on $SOAK_WEB_PORT"
log "gatehouse PID $GATEHOUSE_PID on 127.0.0.1:$SOAK_PORT (pools $SOAK_SESSION_DB, $SOAK_TRANSACTION_DB), /metrics on $SOAK_WEB_PORT"

REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -z "$(git -C "$ROOT" status --porcelain -- src machines 2>/dev/null)" ] || REVISION+=" (with uncommitted changes)"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': *' '/model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "gatehouse: $REVISION, node $(node --version), pool_size $POOL_SIZE per pool"
  echo "postgres: $PG_VERSION"
  echo "command: bash bench/soak.sh --minutes $MINUTES --interval $INTERVAL --pool-size $POOL_SIZE"
} >"$OUT/env.txt"

# --- 3. load, SIGHUPs, the restart ------------------------------------------------------------------------------------
echo "t_s,event" >"$OUT/events.csv"
env SOAK_PORT="$SOAK_PORT" SOAK_WEB_PORT="$SOAK_WEB_PORT" SOAK_ADMIN_PASSWORD="$SOAK_ADMIN_PASSWORD" \
  SOAK_SESSION_DB="$SOAK_SESSION_DB" SOAK_TRANSACTION_DB="$SOAK_TRANSACTION_DB" BENCH_USER="$BENCH_USER" \
  BENCH_PASSWORD="$BENCH_PASSWORD" CA_FILE="$CA_FILE" GATEHOUSE_PID="$GATEHOUSE_PID" \
  node "$BENCH_HOME/soak-load.mjs" --seconds "$SECONDS_TOTAL" --out "$OUT" --interval "$INTERVAL" \
  --clk-tck "$(getconf CLK_TCK)" 2>"$OUT/load.log" &
LOAD_PID=$!
await_exec "$LOAD_PID" "soak-load.mjs" || die "soak-load.mjs did not start"
T0="$(date +%s)"
event() { echo "$(($(date +%s) - T0)),$1" >>"$OUT/events.csv"; }
log "load running for $MINUTES min (SIGHUP every ${SIGHUP_EVERY}s, PostgreSQL restart at $((SECONDS_TOTAL / 2))s); samples in $OUT/samples.csv"

restart_postgres() {
  local pid
  log "restarting PostgreSQL (fast shutdown, then start)"
  event restart-begin
  kill -USR1 "$LOAD_PID"
  pid="$(head -1 "$PG_DATA_DIR/postmaster.pid")"
  kill -INT "$pid" # fast shutdown: clients' backends get 57P01
  for _ in $(seq 1 300); do pid_is "$pid" "$PG_DATA_DIR" || break; sleep 0.1; done
  pid_is "$pid" "$PG_DATA_DIR" && die "postmaster $pid did not stop within 30 s"
  event postgres-stopped
  RESTARTED=1
  as_run_user "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" -l "$PG_DATA_DIR/restart.log" -o "-p $PG_PORT" -w -t 120 start \
    >>"$OUT/postgres-restart.log" 2>&1 || die "PostgreSQL did not start again (see $OUT/postgres-restart.log)"
  event restart-end
  kill -USR2 "$LOAD_PID"
  log "PostgreSQL is back (postmaster $(head -1 "$PG_DATA_DIR/postmaster.pid"))"
}

GATEHOUSE_DIED=0
next_hup=$SIGHUP_EVERY
restart_at=$((SECONDS_TOTAL / 2))
while pid_is "$LOAD_PID" "soak-load.mjs"; do
  sleep 1
  now=$(($(date +%s) - T0))
  if ! pid_is "$GATEHOUSE_PID" "$SOAK_CONFIG"; then
    st=0; wait "$GATEHOUSE_PID" 2>/dev/null || st=$?
    log "gatehouse (PID $GATEHOUSE_PID) is gone at ${now}s (exit status $st); end of its log:"; tail -40 "$OUT/gatehouse.log" >&2
    event "gatehouse-gone-$st"; GATEHOUSE_DIED=1; GATEHOUSE_PID=""
    kill -TERM "$LOAD_PID" 2>/dev/null
    break
  fi
  if [ "$now" -ge "$next_hup" ]; then kill -HUP "$GATEHOUSE_PID"; event sighup; next_hup=$((next_hup + SIGHUP_EVERY)); fi
  if [ "$restart_at" -gt 0 ] && [ "$now" -ge "$restart_at" ]; then restart_postgres; restart_at=0; fi
done
LOAD_RC=0; wait "$LOAD_PID" || LOAD_RC=$?
LOAD_PID=""
[ "$LOAD_RC" = 0 ] || { tail -20 "$OUT/load.log" >&2; log "soak-load.mjs exited with status $LOAD_RC"; }

# --- 4. report -------------------------------------------------------------------------------------------------------
REPORT_RC=0
node "$BENCH_HOME/soak-report.mjs" "$OUT" | tee "$OUT/summary.md" || REPORT_RC=$?
[ "$GATEHOUSE_DIED" = 0 ] || die "gatehouse died during the soak"
[ "$LOAD_RC" = 0 ] || die "the load driver failed"
[ "$REPORT_RC" = 0 ] || { log "the soak FAILED (see $OUT/summary.md)"; exit 1; }
log "the soak passed"
