# shellcheck shell=bash
# The pgbench scenarios of bench/run.sh (sourced by it once every target runs): select, connect, tpcb and
# many-clients. A warm-up per target and protocol, then per repetition every (target, protocol) once, in an order
# that rotates; one row per run in OUT/runs.csv.

echo "rep,target,protocol,scenario,exit,tps,lat_ms,conn_ms,xacts,failed,proxy_cpu_s,proxy_us_per_xact,pg_cpu_s,pg_us_per_xact,cpu_idle_pct,others_cpu_pct,pre_busy_pct,aborted,errors,raw" >"$OUT/runs.csv"

# before_run: what pgbench itself does before a run unless -n (which every scenario passes, since it would do it
# through the proxy): for tpcb, VACUUM of the small tables and an empty pgbench_history, so that every run
# starts from the same tables; for all, a CHECKPOINT. Over the Unix socket, as the superuser.
before_run() {
  [ "$SCENARIO" != tpcb ] || admin_psql -c 'VACUUM pgbench_branches, pgbench_tellers' -c 'TRUNCATE pgbench_history' >/dev/null
  admin_psql -c CHECKPOINT >/dev/null
}

# per_xact CPU_S XACTS: microseconds per transaction, empty without transactions.
per_xact() { [ -z "$1" ] || [ "${2:-0}" -le 0 ] || awk -v c="$1" -v x="$2" 'BEGIN { printf "%.1f", 1e6 * c / x }'; }
# ticks_s T0 T1: clock ticks to seconds.
ticks_s() { awk -v d=$(($2 - $1)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }'; }

# run_one TARGET PROTOCOL REP: one pgbench run; appends a row to runs.csv.
run_one() {
  local target="$1" proto="$2" rep="$3" port="${PORT_OF[$1]}" pid="${PID_OF[$1]}" marker="${MARKER_OF[$1]}"
  local raw="$OUT/raw/$SCENARIO-$target-$proto-r$rep.log" rc=0 busy t0="" t1="" tot0 idle0 tot1 idle1 own0 own1 pg0 pg1
  local label="$target"
  [ "${#PROTOCOL_LIST[@]}" = 1 ] || label="$target/$proto"
  if [ -n "$pid" ] && ! pid_is "$pid" "$marker"; then
    log "$label: its process $pid is gone; skipping rep $rep"
    case "$target" in gatehouse*) gatehouse_gone "$pid" ;; esac
    echo "$rep,$target,$proto,$SCENARIO,proxy-gone,,,,,,,,,,,,,,," >>"$OUT/runs.csv"
    FAILURES=$((FAILURES + 1))
    return
  fi
  before_run
  busy="$(wait_quiet)"
  echo "# PGPORT=$port ${COMMAND/PROTOCOL/$proto}" >"$raw"
  # The proxy's CPU is that of its whole process tree (gatehouse's worker processes, if any, included).
  [ -z "$pid" ] || t0="$(tree_ticks "$pid")"
  pg0="$(tree_ticks "$POSTMASTER_PID")"
  own0="$(tree_ticks $$ "${PGB_PID[@]}")"
  read -r tot0 idle0 < <(sys_cpu)
  run_bounded $((DURATION + 60)) "$raw" "${CLIENT_ENV[@]}" PGPORT="$port" pgbench "${LOAD_ARGS[@]}" -M "$proto" -T "$DURATION" || rc=$?
  read -r tot1 idle1 < <(sys_cpu)
  own1="$(tree_ticks $$ "${PGB_PID[@]}")"
  pg1="$(tree_ticks "$POSTMASTER_PID")"
  [ -z "$pid" ] || t1="$(tree_ticks "$pid")"

  local tps lat conn xacts failed idle others cpu_s="" us="" pg_s pg_us aborted errors
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
  if [ -n "$t0" ] && [ -n "$t1" ]; then cpu_s="$(ticks_s "$t0" "$t1")"; us="$(per_xact "$cpu_s" "$xacts")"; fi
  pg_s="$(ticks_s "$pg0" "$pg1")"; pg_us="$(per_xact "$pg_s" "$xacts")"
  echo "$rep,$target,$proto,$SCENARIO,$rc,$tps,$lat,$conn,$xacts,$failed,$cpu_s,$us,$pg_s,$pg_us,$idle,$others,$busy,$aborted,$errors,raw/$(basename "$raw")" >>"$OUT/runs.csv"
  printf '  rep %s %-34s tps=%-8.0f latency=%-7s ms  proxy CPU=%-6s µs/xact  PostgreSQL CPU=%-6s µs/xact  idle=%s%% others=%s%%  exit=%s%s\n' \
    "$rep" "$label" "${tps:-0}" "${lat:-?}" "${us:--}" "${pg_us:--}" "${idle:-?}" "$others" "$rc" \
    "$([ "$errors" = 0 ] || echo "  pgbench errors=$errors aborted clients=$aborted")" >&2
  if [ "$rc" != 0 ] || [ -z "$tps" ] || [ "${failed:-0}" != 0 ]; then
    FAILURES=$((FAILURES + 1))
    log "$label rep $rep failed (exit $rc); end of pgbench's output ($raw):"
    tail -15 "$raw" >&2
    case "$target" in
      gatehouse*)
        if pid_is "$pid" "$marker"; then log "end of $target's log (${GH_LOG[$target]}):"; tail -40 "${GH_LOG[$target]}" >&2
        else gatehouse_gone "$pid"; fi ;;
    esac
  fi
}

if [ "$WARMUP" -gt 0 ]; then
  for proto in "${PROTOCOL_LIST[@]}"; do
    for target in "${TARGETS[@]}"; do
      log "warm-up: ${WARMUP_SECONDS}s of pgbench ${LOAD_ARGS[*]} -M $proto against $target (not recorded)"
      run_bounded $((WARMUP_SECONDS + 60)) "$OUT/raw/warmup-$target-$proto.log" "${CLIENT_ENV[@]}" PGPORT="${PORT_OF[$target]}" \
        pgbench "${LOAD_ARGS[@]}" -M "$proto" -T "$WARMUP_SECONDS" || log "warm-up against $target -M $proto failed; see $OUT/raw/warmup-$target-$proto.log"
    done
  done
fi

RUNS=()
for proto in "${PROTOCOL_LIST[@]}"; do
  for target in "${TARGETS[@]}"; do RUNS+=("$target $proto"); done
done
log "$SCENARIO: $REPS repetition(s) × ${TARGETS[*]} × -M ${PROTOCOL_LIST[*]}, ${DURATION}s each"
for ((rep = 1; rep <= REPS; rep++)); do
  for ((k = 0; k < ${#RUNS[@]}; k++)); do
    # shellcheck disable=SC2086 # "target protocol"
    run_one ${RUNS[$(((k + rep - 1) % ${#RUNS[@]}))]} "$rep"
  done
done
