#!/usr/bin/env bash
# bench/run.sh — direct PostgreSQL, gatehouse and PgBouncer under the same load, in one run, on 127.0.0.1 only.
#
#   bash bench/run.sh [--scenario select|connect|tpcb|many-clients|memory] [--clients N]
#                     [--protocol simple|extended|prepared] [--protocols "simple prepared"] [--reps 3] [--duration 15]
#                     [--pool-mode session|transaction] [--pgbouncer-modes "session transaction"] [--no-pgbouncer]
#                     [--workers "1 2"] [--flavor system15|embedded18] [--scale 10] [--pool-size 20] [--warmup 5]
#                     [--out DIR] [--baseline DIR]
#
# Builds everything it measures and removes it again on exit (also on Ctrl-C): throwaway certificates, a
# PostgreSQL cluster (ssl=on, hostssl + scram-sha-256, user/database bench, pgbench -i -s 10 over TLS), gatehouse
# (`node dist/cli.js --config FILE`: tls_mode require, server_tls_mode verify-full, pool size 20, log_level warn)
# and, when `pgbouncer` is installed, PgBouncer with the same TLS settings (run as the cluster's OS user when root).
# Then, for each repetition, every target once per protocol, in an order that rotates each repetition:
#   select        pgbench -n -S    -c 16  -j 2 -M PROTOCOL -T DURATION   persistent connections, one SELECT each
#   connect       pgbench -n -S -C -c 8   -j 2 -M PROTOCOL -T DURATION   a new TLS + SCRAM connection per transaction
#   tpcb          pgbench -n       -c 16  -j 2 -M PROTOCOL -T DURATION   pgbench's TPC-B-like script (5 statements)
#   many-clients  pgbench -n -S    -c 200 -j 2 -M PROTOCOL -T DURATION   200 clients on 20 servers (transaction pooling)
#   memory        bench/hold-clients.mjs: 10,000 idle TLS + SCRAM clients held by each proxy in turn: kB of proxy
#                 RSS per client, proxy CPU per login, and a new client's connect + SELECT 1 time while they are held
# with PGSSLMODE=require PGGSSENCMODE=disable, recording TPS, latency, and the CPU time (utime+stime) of the proxy's
# and of PostgreSQL's process trees. Prints a Markdown summary with ratios against direct PostgreSQL and PgBouncer
# from the same run and keeps everything in bench/results/<timestamp>/ (--out to change).
#
# Options:
#   --clients N          pgbench's -c (defaults above), or the clients memory holds (default 10000)
#   --protocol P         pgbench's query protocol (-M): simple (default; Query messages), extended (unnamed
#                        Parse/Bind/Execute per query) or prepared (a named statement per connection, prepared once)
#   --protocols L        several protocols in one run, space or comma separated ("simple prepared"): every target
#                        is measured with each, and the summary names them TARGET/PROTOCOL (gatehouse-transaction/
#                        prepared); ratios vs direct and vs PgBouncer compare the same protocol
#   --pool-mode M        gatehouse pool_mode (default session; transaction for many-clients and memory, which
#                        refuse session pooling with more clients than --pool-size)
#   --pgbouncer-modes L  PgBouncer pool modes to run, space or comma separated (default: the --pool-mode)
#   --no-pgbouncer       leave PgBouncer out even when installed
#   --workers L          one gatehouse per N in L ("1 2"), with general.worker_threads: N, as targets
#                        gatehouse-MODE-wN; the summary adds TPS and CPU per N. Without it: one gatehouse with
#                        worker_threads left to its default (the CPUs)
#   --flavor F           system15 (default when /usr/lib/postgresql/15 exists) or embedded18
#   --baseline DIR       also measure the gatehouse built in DIR (another checkout, after `npm ci`), as target
#                        gatehouse@base-<mode>, with the same configuration on its own port: before/after in one run;
#                        --workers does not apply to it (worker_threads is left to its default, so a build that has
#                        worker processes runs one per CPU there: compare such a build with --workers unset)
#   --warmup S           an unrecorded pgbench run of S seconds against every target first (default 5, 0: none);
#                        gatehouse runs on V8, whose JIT needs a few seconds of load to reach its steady state.
#                        (10 s more with more than 50 clients: pgbench's -T includes connecting them);
#                        memory: 500 clients held and released once per proxy instead (0: none)
# Environment: BENCH_SECRETS=scram|plain (what gatehouse and PgBouncer store to authenticate clients: the SCRAM
#   secret from pg_authid, default, or the password),
#   GATEHOUSE_LOG_LEVEL=warn (gatehouse's general.log_level; its log is kept in the results folder),
#   GATEHOUSE_NODE_ARGS (extra node options for gatehouse, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": the profile
#   is written when gatehouse stops at the end of the run; Node refuses --cpu-prof in NODE_OPTIONS),
#   QUIET_BUSY=25 / QUIET_WAIT=30 (before each run, wait at most QUIET_WAIT s for the CPUs to be < QUIET_BUSY % busy),
#   MEMORY_SETTLE=5 (memory: seconds between the last client held and the RSS reading).
# Needs `npm run build` first, node, pgbench and psql (PostgreSQL client 15+); pgbouncer optional.
set -euo pipefail
BENCH_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_HOME/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$BENCH_HOME/lib.sh"

SCENARIO=select; REPS=3; DURATION=15; POOL_MODE=""; PGB_MODES_ARG=""; WITH_PGBOUNCER=1; CLIENTS=""; WORKERS=""
FLAVOR=""; SCALE=10; POOL_SIZE=20; WARMUP=5; OUT=""; BASELINE=""; PROTOCOLS=simple
QUIET_BUSY="${QUIET_BUSY:-25}"; QUIET_WAIT="${QUIET_WAIT:-30}"; MEMORY_SETTLE="${MEMORY_SETTLE:-5}"
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) SCENARIO="${2:?}"; shift 2 ;;
    --clients) CLIENTS="${2:?}"; shift 2 ;;
    --protocol|--protocols) PROTOCOLS="${2//,/ }"; shift 2 ;;
    --reps) REPS="${2:?}"; shift 2 ;;
    --duration) DURATION="${2:?}"; shift 2 ;;
    --pool-mode) POOL_MODE="${2:?}"; shift 2 ;;
    --pgbouncer-modes) PGB_MODES_ARG="${2//,/ }"; shift 2 ;;
    --no-pgbouncer) WITH_PGBOUNCER=0; shift ;;
    --workers) WORKERS="${2//,/ }"; shift 2 ;;
    --flavor) FLAVOR="${2:?}"; shift 2 ;;
    --scale) SCALE="${2:?}"; shift 2 ;;
    --pool-size) POOL_SIZE="${2:?}"; shift 2 ;;
    --warmup) WARMUP="${2:?}"; shift 2 ;;
    --out) OUT="${2:?}"; shift 2 ;;
    --baseline) BASELINE="$(cd "${2:?}" && pwd)"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

case "$SCENARIO" in
  select) CLIENTS="${CLIENTS:-16}"; LOAD_ARGS=(-n -S -c "$CLIENTS" -j 2) ;;
  connect) CLIENTS="${CLIENTS:-8}"; LOAD_ARGS=(-n -S -C -c "$CLIENTS" -j 2) ;;
  tpcb) CLIENTS="${CLIENTS:-16}"; LOAD_ARGS=(-n -c "$CLIENTS" -j 2) ;;
  many-clients) CLIENTS="${CLIENTS:-200}"; POOL_MODE="${POOL_MODE:-transaction}"; LOAD_ARGS=(-n -S -c "$CLIENTS" -j 2) ;;
  memory) CLIENTS="${CLIENTS:-10000}"; POOL_MODE="${POOL_MODE:-transaction}"; LOAD_ARGS=() ;;
  *) die "--scenario must be select, connect, tpcb, many-clients or memory, got $SCENARIO" ;;
esac
POOL_MODE="${POOL_MODE:-session}"
read -r -a PROTOCOL_LIST <<<"$PROTOCOLS"
[ "${#PROTOCOL_LIST[@]}" -gt 0 ] || die "--protocol: name at least one of simple, extended, prepared"
for p in "${PROTOCOL_LIST[@]}"; do
  case "$p" in simple|extended|prepared) ;; *) die "--protocol must be simple, extended or prepared, got $p" ;; esac
done
[ "$(printf '%s\n' "${PROTOCOL_LIST[@]}" | sort -u | wc -l)" = "${#PROTOCOL_LIST[@]}" ] || die "--protocols: $PROTOCOLS names one twice"
[ "$SCENARIO" != memory ] || [ "$PROTOCOLS" = simple ] || die "--protocol does not apply to --scenario memory (its clients send one simple SELECT 1 each)"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup takes a number of seconds, got $WARMUP"
[[ "$MEMORY_SETTLE" =~ ^[0-9]+$ ]] || die "MEMORY_SETTLE takes a number of seconds, got $MEMORY_SETTLE"
for n in "$REPS" "$DURATION" "$SCALE" "$POOL_SIZE" "$CLIENTS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "--reps, --duration, --scale, --pool-size and --clients take positive integers, got $n"
done
for w in $WORKERS; do
  [[ "$w" =~ ^[1-9][0-9]*$ ]] && [ "$w" -le 255 ] || die "--workers takes worker counts 1..255, got $w"
done
[ "$(printf '%s\n' $WORKERS | sort -u | wc -l)" = "$(printf '%s\n' $WORKERS | wc -l)" ] || die "--workers: $WORKERS names one twice"
case "$POOL_MODE" in session|transaction) ;; *) die "--pool-mode must be session or transaction" ;; esac
if [[ "$SCENARIO" =~ ^(many-clients|memory)$ ]] && [ "$POOL_MODE" = session ] && [ "$CLIENTS" -gt "$POOL_SIZE" ]; then
  die "$SCENARIO measures transaction pooling: in session pooling $((CLIENTS - POOL_SIZE)) of $CLIENTS clients would wait for one of $POOL_SIZE servers for the whole run"
fi
# pgbench's -T includes connecting its clients: 200 TLS + SCRAM logins take 2-5 s on 2 busy cores, and direct
# PostgreSQL forks a backend for each; a short run then has no transactions at all.
if [ "$SCENARIO" != memory ] && [ "$CLIENTS" -gt 50 ] && [ "$DURATION" -lt 15 ]; then
  die "--duration $DURATION is too short for $CLIENTS clients: pgbench's -T includes connecting them (2-5 s for 200 here); use --duration 15 or more"
fi
WARMUP_SECONDS=$WARMUP; [ "$WARMUP" = 0 ] || [ "$CLIENTS" -le 50 ] || WARMUP_SECONDS=$((WARMUP + 10))
case "$FLAVOR" in ""|system15|embedded18) ;; *) die "--flavor must be system15 or embedded18" ;; esac
PGB_MODES_ARG="${PGB_MODES_ARG:-$POOL_MODE}"
for m in $PGB_MODES_ARG; do
  case "$m" in session|transaction) ;; *) die "--pgbouncer-modes: unknown pool mode $m" ;; esac
done

for tool in node pgbench psql timeout awk; do
  command -v "$tool" >/dev/null || die "$tool not found (pgbench and psql: apt-get install postgresql-client)"
done
[ -f "$ROOT/dist/cli.js" ] && [ -f "$ROOT/dist/src/dev/index.js" ] || die "gatehouse is not built: run npm run build first"
[ -z "$BASELINE" ] || [ -f "$BASELINE/dist/cli.js" ] || die "--baseline $BASELINE: no dist/cli.js there (npm ci in that checkout first)"
PGB_MODES=""
if [ "$WITH_PGBOUNCER" = 1 ]; then
  if command -v pgbouncer >/dev/null; then
    PGB_MODES="$PGB_MODES_ARG"
    [ "$(id -u)" != 0 ] || command -v runuser >/dev/null || die "runuser not found (needed to start PgBouncer as root)"
  else
    echo "pgbouncer not installed (apt-get install pgbouncer) — skipping" >&2
  fi
fi

# Room for every client: the proxies accept CLIENTS plus probes and checks; PostgreSQL takes pgbench's clients
# directly plus every proxy's servers. memory needs one descriptor per held client in the holder and in the proxy.
MAX_CLIENTS=$((CLIENTS + 100 > 1000 ? CLIENTS + 100 : 1000))
PROXIES=$(( $(wc -w <<<"${WORKERS:-default}") + $(wc -w <<<"$PGB_MODES") + (${#BASELINE} > 0 ? 1 : 0) ))
DIRECT_CLIENTS=$CLIENTS; [ "$SCENARIO" != memory ] || DIRECT_CLIENTS=0
PG_MAX_CONNECTIONS=$((DIRECT_CLIENTS + POOL_SIZE * PROXIES + 20 > 200 ? DIRECT_CLIENTS + POOL_SIZE * PROXIES + 20 : 200))
if [ "$SCENARIO" = memory ]; then
  [ "$(ulimit -n)" -ge $((MAX_CLIENTS + POOL_SIZE + 100)) ] \
    || die "--clients $CLIENTS needs ulimit -n of at least $((MAX_CLIENTS + POOL_SIZE + 100)) (it is $(ulimit -n)): the holder and the proxy each use a descriptor per client"
fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$(mkdir -p "${OUT:-$BENCH_HOME/results/$STAMP}" && cd "${OUT:-$BENCH_HOME/results/$STAMP}" && pwd)"
mkdir -p "$OUT/raw"
WORK="$(mktemp -d /tmp/gatehouse-bench.XXXXXX)"
chmod 755 "$WORK" # the cluster's OS user must reach its data directory and PgBouncer's files below it

SETUP_PID=""; CHILD_PID=""; STATE_LOADED=0
declare -A PGB_PID=() GH_PID=() GH_CONFIG=() GH_LOG=()
# shellcheck source=bench/targets.sh
. "$BENCH_HOME/targets.sh"
trap cleanup EXIT
trap 'log "interrupted (SIGINT)"; exit 130' INT
trap 'log "terminated (SIGTERM)"; exit 143' TERM
trap 'log "hung up (SIGHUP)"; exit 129' HUP

# --- 1. certificates, cluster, configuration files --------------------------------------------------------------
log "setting up in $WORK (certificates, PostgreSQL cluster, configuration files)"
SETUP_ARGS=(--work "$WORK" --results "$OUT" --pool-mode "$POOL_MODE" --pool-size "$POOL_SIZE"
  --pgbouncer-modes "${PGB_MODES// /,}" --log-level "${GATEHOUSE_LOG_LEVEL:-warn}"
  --max-clients "$MAX_CLIENTS" --pg-max-connections "$PG_MAX_CONNECTIONS" --workers "${WORKERS// /,}")
[ -z "$FLAVOR" ] || SETUP_ARGS+=(--flavor "$FLAVOR")
node "$BENCH_HOME/setup.mjs" "${SETUP_ARGS[@]}" >"$OUT/setup.log" 2>&1 &
SETUP_PID=$!
await_setup "$SETUP_PID" "$WORK" "$OUT/setup.log"
# shellcheck source=/dev/null
. "$WORK/state.env"
STATE_LOADED=1
log "PostgreSQL $PG_VERSION ($FLAVOR) on 127.0.0.1:$PG_PORT, postmaster PID $POSTMASTER_PID, max_connections $PG_MAX_CONNECTIONS"

CLIENT_ENV=(env -u PGSERVICE -u PGSERVICEFILE -u PGSSLCERT -u PGSSLKEY -u PGSSLROOTCERT -u PGOPTIONS -u PGPASSFILE
  PGHOST=127.0.0.1 PGUSER="$BENCH_USER" PGDATABASE="$BENCH_DB" PGPASSWORD="$BENCH_PASSWORD"
  PGSSLMODE=require PGGSSENCMODE=disable PGAPPNAME=gatehouse-bench PGCONNECT_TIMEOUT=10)
admin_psql() { timeout 120 psql -X -q -At -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d "$BENCH_DB" "$@"; }

log "pgbench -i -s $SCALE (direct, over TLS)"
run_bounded 900 "$OUT/pgbench-init.log" "${CLIENT_ENV[@]}" PGPORT="$PG_PORT" pgbench -i -s "$SCALE" -q \
  || { cat "$OUT/pgbench-init.log" >&2; die "pgbench -i failed"; }
tls_check "$PG_PORT" direct || die "cannot connect directly with sslmode=verify-full"

# --- 2. gatehouse (one per --workers count), the baseline, PgBouncer ----------------------------------------------------
TARGETS=(direct)
declare -A PORT_OF=([direct]="$PG_PORT") PID_OF=([direct]="") MARKER_OF=([direct]="")
if [ -z "$WORKERS" ]; then
  start_gatehouse "gatehouse-$POOL_MODE" "$ROOT" "$GATEHOUSE_CONFIG" "$GATEHOUSE_PORT" gatehouse.log
else
  for w in $WORKERS; do
    config_var="GATEHOUSE_W${w}_CONFIG"; port_var="GATEHOUSE_W${w}_PORT"
    start_gatehouse "gatehouse-$POOL_MODE-w$w" "$ROOT" "${!config_var}" "${!port_var}" "gatehouse-w$w.log"
  done
fi
[ -z "$BASELINE" ] || start_gatehouse "gatehouse@base-$POOL_MODE" "$BASELINE" "$BASELINE_CONFIG" "$BASELINE_PORT" gatehouse-baseline.log
for mode in $PGB_MODES; do start_pgbouncer "$mode"; done

# --- 3. what this run is ----------------------------------------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
if [ "$SCENARIO" = memory ]; then
  COMMAND="node bench/hold-clients.mjs --clients $CLIENTS (TLS + SCRAM, SELECT 1 once, then idle)"
else
  COMMAND="PGSSLMODE=require PGGSSENCMODE=disable pgbench ${LOAD_ARGS[*]} -M PROTOCOL -T $DURATION"
fi
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -z "$(git -C "$ROOT" status --porcelain -- src machines 2>/dev/null)" ] || REVISION+=" (with uncommitted changes)"
PGB_VERSION="not run"
[ -z "$PGB_MODES" ] || PGB_VERSION="$(pgbouncer --version | head -1), pool modes: $PGB_MODES"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': *' '/model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "gatehouse: $REVISION, node $(node --version), pool_mode $POOL_MODE, pool_size $POOL_SIZE, worker_threads ${WORKERS:-default (the CPUs)}"
  [ -z "$BASELINE" ] || echo "gatehouse@base: $(git -C "$BASELINE" rev-parse --short HEAD 2>/dev/null || echo '?') from $BASELINE"
  echo "postgres: $PG_VERSION ($FLAVOR), pgbench -i -s $SCALE, max_connections $PG_MAX_CONNECTIONS"
  echo "pgbouncer: $PGB_VERSION"
  echo "client secrets stored by the proxies: $SECRETS_MODE"
  echo "client: $(pgbench --version)"
  if [ "$SCENARIO" = memory ]; then echo "scenario: memory, reps $REPS: $COMMAND"
  else echo "scenario: $SCENARIO, reps $REPS, duration ${DURATION}s: $COMMAND"; fi
  [ "$SCENARIO" = memory ] || echo "protocols (pgbench -M): ${PROTOCOL_LIST[*]}"
  for target in "${TARGETS[@]}"; do
    [ -z "${PID_OF[$target]}" ] || echo "$target: $(tree_stat count "${PID_OF[$target]}") process(es) at the start"
  done
} >"$OUT/env.txt"
FAILURES=0

# --- 4. measurements, 5. summary ----------------------------------------------------------------------------------------
if [ "$SCENARIO" = memory ]; then
  # shellcheck source=bench/memory.sh
  . "$BENCH_HOME/memory.sh"
else
  # shellcheck source=bench/pgbench-runs.sh
  . "$BENCH_HOME/pgbench-runs.sh"
fi
node "$BENCH_HOME/summarize.mjs" "$OUT" | tee "$OUT/summary.md"
[ "$FAILURES" = 0 ] || { log "$FAILURES run(s) failed; see above and $OUT"; exit 1; }
