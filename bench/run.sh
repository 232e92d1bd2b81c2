#!/usr/bin/env bash
# bench/run.sh — pgbench through direct PostgreSQL, gatehouse and PgBouncer, in one run, on 127.0.0.1 only.
#
#   bash bench/run.sh [--scenario select|connect] [--protocol simple|extended|prepared] [--reps 3] [--duration 15]
#                     [--protocols "simple prepared"] [--pool-mode session|transaction] [--pgbouncer-modes "session transaction"] [--no-pgbouncer]
#                     [--flavor system15|embedded18] [--scale 10] [--pool-size 20] [--warmup 5] [--out DIR]
#                     [--baseline DIR]
#
# Builds everything it measures and removes it again on exit (also on Ctrl-C): throwaway certificates, a
# PostgreSQL cluster (ssl=on, hostssl + scram-sha-256, user/database bench, pgbench -i -s 10 over TLS), gatehouse
# (`node dist/cli.js --config FILE`: tls_mode require, server_tls_mode verify-full, pool size 20, log_level warn)
# and, when `pgbouncer` is installed, PgBouncer with the same TLS settings (run as the cluster's OS user when root).
# Then, for each repetition, every target once per protocol, in an order that rotates each repetition:
#   select    pgbench -n -S    -c 16 -j 2 -M PROTOCOL -T DURATION   persistent connections
#   connect   pgbench -n -S -C -c 8  -j 2 -M PROTOCOL -T DURATION   a new TLS + SCRAM connection per transaction
# with PGSSLMODE=require PGGSSENCMODE=disable, recording TPS, latency and the proxy's CPU time (utime+stime).
# Prints a Markdown summary and keeps everything in bench/results/<timestamp>/ (--out to change).
#
# Options:
#   --protocol P         pgbench's query protocol (-M): simple (default; Query messages), extended (unnamed
#                        Parse/Bind/Execute per query) or prepared (a named statement per connection, prepared once)
#   --protocols L        several protocols in one run, space or comma separated ("simple prepared"): every target
#                        is measured with each, and the summary names them TARGET/PROTOCOL (gatehouse-transaction/
#                        prepared); ratios vs direct and vs PgBouncer compare the same protocol
#   --pool-mode M        gatehouse pool_mode (default session)
#   --pgbouncer-modes L  PgBouncer pool modes to run, space or comma separated (default: the --pool-mode)
#   --no-pgbouncer       leave PgBouncer out even when installed
#   --flavor F           system15 (default when /usr/lib/postgresql/15 exists) or embedded18
#   --baseline DIR       also measure the gatehouse built in DIR (another checkout, after `npm ci`), as target
#                        gatehouse@base-<mode>, with the same configuration on its own port: before/after in one run
#   --warmup S           an unrecorded pgbench run of S seconds against every target first (default 5, 0: none);
#                        gatehouse runs on V8, whose JIT needs a few seconds of load to reach its steady state
# Environment: BENCH_SECRETS=scram|plain (what gatehouse and PgBouncer store to authenticate clients: the SCRAM
#   secret from pg_authid, default, or the password),
#   GATEHOUSE_LOG_LEVEL=warn (gatehouse's general.log_level; its log is kept in the results folder),
#   GATEHOUSE_NODE_ARGS (extra node options for gatehouse, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": the profile
#   is written when gatehouse stops at the end of the run; Node refuses --cpu-prof in NODE_OPTIONS),
#   QUIET_BUSY=25 / QUIET_WAIT=30 (before each run, wait at most QUIET_WAIT s for the CPUs to be < QUIET_BUSY % busy).
# Needs `npm run build` first, node, pgbench and psql (PostgreSQL client 15+); pgbouncer optional.
set -euo pipefail
BENCH_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_HOME/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$BENCH_HOME/lib.sh"

SCENARIO=select; REPS=3; DURATION=15; POOL_MODE=session; PGB_MODES_ARG=""; WITH_PGBOUNCER=1
FLAVOR=""; SCALE=10; POOL_SIZE=20; WARMUP=5; OUT=""; BASELINE=""; PROTOCOLS=simple
QUIET_BUSY="${QUIET_BUSY:-25}"; QUIET_WAIT="${QUIET_WAIT:-30}"
while [ $# -gt 0 ]; do
  case "$1" in
    --scenario) SCENARIO="${2:?}"; shift 2 ;;
    --protocol|--protocols) PROTOCOLS="${2//,/ }"; shift 2 ;;
    --reps) REPS="${2:?}"; shift 2 ;;
    --duration) DURATION="${2:?}"; shift 2 ;;
    --pool-mode) POOL_MODE="${2:?}"; shift 2 ;;
    --pgbouncer-modes) PGB_MODES_ARG="${2//,/ }"; shift 2 ;;
    --no-pgbouncer) WITH_PGBOUNCER=0; shift ;;
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
  select) LOAD_ARGS=(-n -S -c 16 -j 2) ;;
  connect) LOAD_ARGS=(-n -S -C -c 8 -j 2) ;;
  *) die "--scenario must be select or connect, got $SCENARIO" ;;
esac
read -r -a PROTOCOL_LIST <<<"$PROTOCOLS"
[ "${#PROTOCOL_LIST[@]}" -gt 0 ] || die "--protocol: name at least one of simple, extended, prepared"
for p in "${PROTOCOL_LIST[@]}"; do
  case "$p" in simple|extended|prepared) ;; *) die "--protocol must be simple, extended or prepared, got $p" ;; esac
done
[ "$(printf '%s\n' "${PROTOCOL_LIST[@]}" | sort -u | wc -l)" = "${#PROTOCOL_LIST[@]}" ] || die "--protocols: $PROTOCOLS names one twice"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup takes a number of seconds, got $WARMUP"
for n in "$REPS" "$DURATION" "$SCALE" "$POOL_SIZE"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "--reps, --duration, --scale and --pool-size take positive integers, got $n"
done
case "$POOL_MODE" in session|transaction) ;; *) die "--pool-mode must be session or transaction" ;; esac
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

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$(mkdir -p "${OUT:-$BENCH_HOME/results/$STAMP}" && cd "${OUT:-$BENCH_HOME/results/$STAMP}" && pwd)"
mkdir -p "$OUT/raw"
WORK="$(mktemp -d /tmp/gatehouse-bench.XXXXXX)"
chmod 755 "$WORK" # the cluster's OS user must reach its data directory and PgBouncer's files below it

SETUP_PID=""; GATEHOUSE_PID=""; BASELINE_PID=""; CHILD_PID=""; STATE_LOADED=0
declare -A PGB_PID=()

cleanup() {
  local rc=$? mode
  set +e
  trap '' INT TERM HUP # a second Ctrl-C must not cut the cleanup short
  [ -z "$CHILD_PID" ] || { kill -TERM "$CHILD_PID" 2>/dev/null; wait "$CHILD_PID" 2>/dev/null; }
  [ -z "$GATEHOUSE_PID" ] || stop_pid "$GATEHOUSE_PID" "$GATEHOUSE_CONFIG" 15
  [ -z "$BASELINE_PID" ] || stop_pid "$BASELINE_PID" "$BASELINE_CONFIG" 15
  for mode in "${!PGB_PID[@]}"; do
    stop_pid "${PGB_PID[$mode]}" "pgbouncer-$mode/pgbouncer.ini" 10
  done
  if [ "$STATE_LOADED" = 1 ]; then
    for mode in $PGB_MODES; do
      local dir_var="PGB_${mode^^}_DIR"
      cp "${!dir_var}/pgbouncer.log" "$OUT/pgbouncer-$mode.log" 2>/dev/null
    done
  fi
  # setup.mjs copies the server log to $OUT and stops the cluster when it gets SIGTERM.
  [ -z "$SETUP_PID" ] || stop_pid "$SETUP_PID" "setup.mjs --work $WORK" 40
  if [ "$STATE_LOADED" = 1 ] && pid_is "$POSTMASTER_PID" "$PG_DATA_DIR"; then
    log "the cluster outlived setup.mjs; fast shutdown of postmaster $POSTMASTER_PID"
    kill -INT "$POSTMASTER_PID" 2>/dev/null
    for _ in $(seq 1 100); do pid_is "$POSTMASTER_PID" "$PG_DATA_DIR" || break; sleep 0.1; done
    pid_is "$POSTMASTER_PID" "$PG_DATA_DIR" && kill -KILL "$POSTMASTER_PID" 2>/dev/null
    case "$PG_SOCKET_DIR" in /tmp/ghs-*) rm -rf "$PG_SOCKET_DIR" ;; esac
  fi
  rm -rf "$WORK"
  log "stopped everything this run started; results in $OUT"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted (SIGINT)"; exit 130' INT
trap 'log "terminated (SIGTERM)"; exit 143' TERM
trap 'log "hung up (SIGHUP)"; exit 129' HUP

# run_bounded SECONDS OUTFILE CMD...: run CMD (stdout and stderr appended to OUTFILE) in the background under a
# timeout and wait for it, so that a signal reaches our trap at once instead of after pgbench's -T; the trap stops
# it through CHILD_PID. (Redirecting run_bounded itself would send the trap's output to OUTFILE too.)
run_bounded() {
  local secs="$1" out="$2" rc=0; shift 2
  timeout -k 10 "$secs" "$@" >>"$out" 2>&1 &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}

# --- 1. certificates, cluster, configuration files --------------------------------------------------------------
log "setting up in $WORK (certificates, PostgreSQL cluster, configuration files)"
SETUP_ARGS=(--work "$WORK" --results "$OUT" --pool-mode "$POOL_MODE" --pool-size "$POOL_SIZE"
  --pgbouncer-modes "${PGB_MODES// /,}" --log-level "${GATEHOUSE_LOG_LEVEL:-warn}")
[ -z "$FLAVOR" ] || SETUP_ARGS+=(--flavor "$FLAVOR")
node "$BENCH_HOME/setup.mjs" "${SETUP_ARGS[@]}" >"$OUT/setup.log" 2>&1 &
SETUP_PID=$!
await_setup "$SETUP_PID" "$WORK" "$OUT/setup.log"
# shellcheck source=/dev/null
. "$WORK/state.env"
STATE_LOADED=1
log "PostgreSQL $PG_VERSION ($FLAVOR) on 127.0.0.1:$PG_PORT, postmaster PID $POSTMASTER_PID"

CLIENT_ENV=(env -u PGSERVICE -u PGSERVICEFILE -u PGSSLCERT -u PGSSLKEY -u PGSSLROOTCERT -u PGOPTIONS -u PGPASSFILE
  PGHOST=127.0.0.1 PGUSER="$BENCH_USER" PGDATABASE="$BENCH_DB" PGPASSWORD="$BENCH_PASSWORD"
  PGSSLMODE=require PGGSSENCMODE=disable PGAPPNAME=gatehouse-bench PGCONNECT_TIMEOUT=10)
admin_psql() { timeout 120 psql -X -q -At -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d "$BENCH_DB" "$@"; }
# tls_check PORT LABEL: one query with full certificate verification; shows the TLS state of the PostgreSQL side.
tls_check() {
  timeout 30 "${CLIENT_ENV[@]}" PGPORT="$1" PGSSLMODE=verify-full PGSSLROOTCERT="$CA_FILE" psql -X -At -c \
    "SELECT '$2 → PostgreSQL: ssl=' || ssl || ' ' || version FROM pg_stat_ssl WHERE pid = pg_backend_pid()" >&2
}

log "pgbench -i -s $SCALE (direct, over TLS)"
run_bounded 900 "$OUT/pgbench-init.log" "${CLIENT_ENV[@]}" PGPORT="$PG_PORT" pgbench -i -s "$SCALE" -q \
  || { cat "$OUT/pgbench-init.log" >&2; die "pgbench -i failed"; }
tls_check "$PG_PORT" direct || die "cannot connect directly with sslmode=verify-full"

# --- 2. gatehouse ---------------------------------------------------------------------------------------------------
log "starting gatehouse (pool_mode $POOL_MODE) on 127.0.0.1:$GATEHOUSE_PORT"
read -r -a GATEHOUSE_NODE_ARGV <<<"${GATEHOUSE_NODE_ARGS:-}"
node "${GATEHOUSE_NODE_ARGV[@]}" "$ROOT/dist/cli.js" --config "$GATEHOUSE_CONFIG" >"$OUT/gatehouse.log" 2>&1 &
GATEHOUSE_PID=$!
if ! await_exec "$GATEHOUSE_PID" "$GATEHOUSE_CONFIG" || ! wait_listening "$GATEHOUSE_PORT" 30 "$GATEHOUSE_PID" "$GATEHOUSE_CONFIG"; then
  tail -40 "$OUT/gatehouse.log" >&2
  die "gatehouse did not start listening (its log is above)"
fi
tls_check "$GATEHOUSE_PORT" "client → gatehouse ($POOL_MODE)" \
  || { tail -40 "$OUT/gatehouse.log" >&2; die "a TLS + SCRAM login through gatehouse failed (its log is above)"; }

if [ -n "$BASELINE" ]; then
  log "starting the baseline gatehouse from $BASELINE ($(git -C "$BASELINE" rev-parse --short HEAD 2>/dev/null || echo '?')) on 127.0.0.1:$BASELINE_PORT"
  node "$BASELINE/dist/cli.js" --config "$BASELINE_CONFIG" >"$OUT/gatehouse-baseline.log" 2>&1 &
  BASELINE_PID=$!
  if ! await_exec "$BASELINE_PID" "$BASELINE_CONFIG" || ! wait_listening "$BASELINE_PORT" 30 "$BASELINE_PID" "$BASELINE_CONFIG"; then
    tail -40 "$OUT/gatehouse-baseline.log" >&2
    die "the baseline gatehouse did not start listening (its log is above)"
  fi
  tls_check "$BASELINE_PORT" "client → baseline gatehouse ($POOL_MODE)" || die "a login through the baseline gatehouse failed"
fi

# --- 3. PgBouncer -----------------------------------------------------------------------------------------------------
for mode in $PGB_MODES; do
  dir_var="PGB_${mode^^}_DIR"; port_var="PGB_${mode^^}_PORT"
  dir="${!dir_var}"; port="${!port_var}"
  log "starting PgBouncer ($mode pooling) on 127.0.0.1:$port${RUN_AS:+ as OS user $RUN_AS}"
  as_run_user pgbouncer -d -q "$dir/pgbouncer.ini" || { cat "$dir/pgbouncer.log" >&2; die "pgbouncer ($mode) did not start"; }
  for ((i = 0; i < 100; i++)); do
    pid="$(tr -dc '0-9' 2>/dev/null <"$dir/pgbouncer.pid" || true)"
    pid_is "$pid" "$dir/pgbouncer.ini" && { PGB_PID[$mode]="$pid"; break; }
    sleep 0.1
  done
  [ -n "${PGB_PID[$mode]:-}" ] || { cat "$dir/pgbouncer.log" >&2; die "no running pgbouncer behind $dir/pgbouncer.pid"; }
  wait_listening "$port" 20 "${PGB_PID[$mode]}" "$dir/pgbouncer.ini" || die "pgbouncer ($mode) is not listening on $port"
  tls_check "$port" "client → pgbouncer ($mode)" || { cat "$dir/pgbouncer.log" >&2; die "login through pgbouncer ($mode) failed"; }
done

# --- 4. measurements --------------------------------------------------------------------------------------------------
TARGETS=(direct "gatehouse-$POOL_MODE")
for mode in $PGB_MODES; do TARGETS+=("pgbouncer-$mode"); done
declare -A PORT_OF=([direct]="$PG_PORT" ["gatehouse-$POOL_MODE"]="$GATEHOUSE_PORT")
declare -A PID_OF=([direct]="" ["gatehouse-$POOL_MODE"]="$GATEHOUSE_PID")
declare -A MARKER_OF=([direct]="" ["gatehouse-$POOL_MODE"]="$GATEHOUSE_CONFIG")
if [ -n "$BASELINE" ]; then
  TARGETS+=("gatehouse@base-$POOL_MODE")
  PORT_OF["gatehouse@base-$POOL_MODE"]="$BASELINE_PORT"; PID_OF["gatehouse@base-$POOL_MODE"]="$BASELINE_PID"
  MARKER_OF["gatehouse@base-$POOL_MODE"]="$BASELINE_CONFIG"
fi
for mode in $PGB_MODES; do
  port_var="PGB_${mode^^}_PORT"; dir_var="PGB_${mode^^}_DIR"
  PORT_OF[pgbouncer-$mode]="${!port_var}"; PID_OF[pgbouncer-$mode]="${PGB_PID[$mode]}"
  MARKER_OF[pgbouncer-$mode]="${!dir_var}/pgbouncer.ini"
done
CLK_TCK="$(getconf CLK_TCK)"
COMMAND="PGSSLMODE=require PGGSSENCMODE=disable pgbench ${LOAD_ARGS[*]} -M PROTOCOL -T $DURATION"

REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[ -z "$(git -C "$ROOT" status --porcelain -- src machines 2>/dev/null)" ] || REVISION+=" (with uncommitted changes)"
PGB_VERSION="not run"
[ -z "$PGB_MODES" ] || PGB_VERSION="$(pgbouncer --version | head -1), pool modes: $PGB_MODES"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': *' '/model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "gatehouse: $REVISION, node $(node --version), pool_mode $POOL_MODE, pool_size $POOL_SIZE"
  [ -z "$BASELINE" ] || echo "gatehouse@base: $(git -C "$BASELINE" rev-parse --short HEAD 2>/dev/null || echo '?') from $BASELINE"
  echo "postgres: $PG_VERSION ($FLAVOR), pgbench -i -s $SCALE"
  echo "pgbouncer: $PGB_VERSION"
  echo "client secrets stored by the proxies: $SECRETS_MODE"
  echo "client: $(pgbench --version)"
  echo "scenario: $SCENARIO, reps $REPS, duration ${DURATION}s: $COMMAND"
  echo "protocols (pgbench -M): ${PROTOCOL_LIST[*]}"
} >"$OUT/env.txt"
echo "rep,target,protocol,scenario,exit,tps,lat_ms,conn_ms,xacts,failed,proxy_cpu_s,proxy_us_per_xact,cpu_idle_pct,others_cpu_pct,pre_busy_pct,aborted,errors,raw" >"$OUT/runs.csv"
FAILURES=0

# gatehouse_gone PID: says how gatehouse ended (it is our child, so `wait` still has its exit status).
gatehouse_gone() {
  local st=0
  wait "$1" 2>/dev/null || st=$?
  if [ "$st" -gt 128 ]; then log "gatehouse (PID $1) is gone: killed by signal $((st - 128)) ($(kill -l $((st - 128))))"
  else log "gatehouse (PID $1) is gone: exit status $st"; fi
  log "end of gatehouse's log ($OUT/gatehouse.log):"; tail -40 "$OUT/gatehouse.log" >&2
}

# run_one TARGET PROTOCOL REP: one pgbench run; appends a row to runs.csv.
run_one() {
  local target="$1" proto="$2" rep="$3" port="${PORT_OF[$1]}" pid="${PID_OF[$1]}" marker="${MARKER_OF[$1]}"
  local raw="$OUT/raw/$SCENARIO-$target-$proto-r$rep.log" rc=0 busy t0="" t1="" tot0 idle0 tot1 idle1 own0 own1
  local label="$target"
  [ "${#PROTOCOL_LIST[@]}" = 1 ] || label="$target/$proto"
  if [ -n "$pid" ] && ! pid_is "$pid" "$marker"; then
    log "$label: its process $pid is gone; skipping rep $rep"
    case "$target" in gatehouse-*) gatehouse_gone "$pid" ;; esac
    echo "$rep,$target,$proto,$SCENARIO,proxy-gone,,,,,,,,,,,,," >>"$OUT/runs.csv"
    FAILURES=$((FAILURES + 1))
    return
  fi
  admin_psql -c CHECKPOINT >/dev/null
  busy="$(wait_quiet)"
  echo "# PGPORT=$port ${COMMAND/PROTOCOL/$proto}" >"$raw"
  [ -z "$pid" ] || t0="$(proc_ticks "$pid")"
  own0="$(tree_ticks $$ "${PGB_PID[@]}")"
  read -r tot0 idle0 < <(sys_cpu)
  run_bounded $((DURATION + 60)) "$raw" "${CLIENT_ENV[@]}" PGPORT="$port" pgbench "${LOAD_ARGS[@]}" -M "$proto" -T "$DURATION" || rc=$?
  read -r tot1 idle1 < <(sys_cpu)
  own1="$(tree_ticks $$ "${PGB_PID[@]}")"
  [ -z "$pid" ] || t1="$(proc_ticks "$pid")"

  local tps lat conn xacts failed idle others cpu_s="" us="" aborted errors
  tps="$(pgbench_value "$raw" 'tps = ' 3)"
  lat="$(pgbench_value "$raw" 'latency average = ' 4)"
  conn="$(pgbench_value "$raw" 'average connection time = ' 5)"
  [ -n "$conn" ] || conn="$(pgbench_value "$raw" 'initial connection time = ' 5)"
  xacts="$(pgbench_value "$raw" 'number of transactions actually processed: ' 6)"
  failed="$(pgbench_value "$raw" 'number of failed transactions: ' 5)"
  # pgbench 15 counts only serialization and deadlock failures as "failed"; any other error aborts the client
  # (exit 2), and an error of a PQprepare (-M prepared) is only printed. Both are counted from its output.
  aborted="$(grep -cE 'client [0-9]+ (script [0-9]+ )?aborted' "$raw" || true)"
  errors="$(grep -c 'ERROR:' "$raw" || true)"
  idle="$(awk -v t=$((tot1 - tot0)) -v i=$((idle1 - idle0)) 'BEGIN { if (t > 0) printf "%.1f", 100 * i / t }')"
  # What processes other than ours used, in % of the machine (loopback softirq time lands here too).
  others="$(awk -v t=$((tot1 - tot0)) -v i=$((idle1 - idle0)) -v o=$((own1 - own0)) \
    'BEGIN { x = t > 0 ? 100 * (t - i - o) / t : 0; printf "%.1f", x < 0 ? 0 : x }')"
  if [ -n "$t0" ] && [ -n "$t1" ]; then
    cpu_s="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')"
    if [ "${xacts:-0}" -gt 0 ]; then us="$(awk -v c="$cpu_s" -v x="$xacts" 'BEGIN { printf "%.1f", 1e6 * c / x }')"; fi
  fi
  echo "$rep,$target,$proto,$SCENARIO,$rc,$tps,$lat,$conn,$xacts,$failed,$cpu_s,$us,$idle,$others,$busy,$aborted,$errors,raw/$(basename "$raw")" >>"$OUT/runs.csv"
  printf '  rep %s %-31s tps=%-8.0f latency=%-7s ms  proxy CPU=%-6s µs/xact  idle=%s%% others=%s%%  exit=%s%s\n' \
    "$rep" "$label" "${tps:-0}" "${lat:-?}" "${us:--}" "${idle:-?}" "$others" "$rc" \
    "$([ "$errors" = 0 ] || echo "  pgbench errors=$errors aborted clients=$aborted")" >&2
  if [ "$rc" != 0 ] || [ -z "$tps" ] || [ "${failed:-0}" != 0 ]; then
    FAILURES=$((FAILURES + 1))
    log "$label rep $rep failed (exit $rc); end of pgbench's output ($raw):"
    tail -15 "$raw" >&2
    case "$target" in
      gatehouse-*)
        if pid_is "$pid" "$marker"; then log "end of gatehouse's log ($OUT/gatehouse.log):"; tail -40 "$OUT/gatehouse.log" >&2
        else gatehouse_gone "$pid"; fi ;;
    esac
  fi
}

if [ "$WARMUP" -gt 0 ]; then
  for proto in "${PROTOCOL_LIST[@]}"; do
    for target in "${TARGETS[@]}"; do
      log "warm-up: ${WARMUP}s of pgbench ${LOAD_ARGS[*]} -M $proto against $target (not recorded)"
      run_bounded $((WARMUP + 60)) "$OUT/raw/warmup-$target-$proto.log" "${CLIENT_ENV[@]}" PGPORT="${PORT_OF[$target]}" \
        pgbench "${LOAD_ARGS[@]}" -M "$proto" -T "$WARMUP" || log "warm-up against $target -M $proto failed; see $OUT/raw/warmup-$target-$proto.log"
    done
  done
fi

# Every (target, protocol) pair once per repetition; the order rotates by one each repetition.
RUNS=()
for proto in "${PROTOCOL_LIST[@]}"; do
  for target in "${TARGETS[@]}"; do RUNS+=("$target $proto"); done
done
n=${#RUNS[@]}
log "$SCENARIO: $REPS repetition(s) × ${TARGETS[*]} × -M ${PROTOCOL_LIST[*]}, ${DURATION}s each"
for ((rep = 1; rep <= REPS; rep++)); do
  for ((k = 0; k < n; k++)); do
    # shellcheck disable=SC2086 # "target protocol"
    run_one ${RUNS[$(((k + rep - 1) % n))]} "$rep"
  done
done

# --- 5. summary ---------------------------------------------------------------------------------------------------------
node "$BENCH_HOME/summarize.mjs" "$OUT" | tee "$OUT/summary.md"
[ "$FAILURES" = 0 ] || { log "$FAILURES run(s) failed; see above and $OUT"; exit 1; }
