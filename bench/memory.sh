# shellcheck shell=bash
# The memory scenario of bench/run.sh (sourced by it once every target runs): per repetition, each proxy in turn
# (order rotating) gets CLIENTS idle TLS + SCRAM clients from bench/hold-clients.mjs. Measured on the proxy's
# whole process tree: RSS before and with the clients held (kB per client), CPU spent logging them in (µs per
# client), and the time a new client takes to connect and run SELECT 1 while they are held. One row per proxy and
# repetition in OUT/memory.csv. Direct PostgreSQL is not a target: it forks a backend per client (and allows
# $PG_MAX_CONNECTIONS).

echo "rep,target,clients,exit,held,failed,open_s,rss_before_kb,rss_held_kb,kb_per_client,login_cpu_s,login_us_per_client,probe_ms_median,probe_ms_max,probe_failed,dropped,others_cpu_pct,errors,raw" >"$OUT/memory.csv"
HOLD_TARGETS=()
for target in "${TARGETS[@]}"; do [ "$target" = direct ] || HOLD_TARGETS+=("$target"); done

# holder_step FILE STEP SECONDS PID: wait until the holder (PID) has printed `STEP {json}` to FILE; fails when it
# is gone first or after SECONDS.
holder_step() {
  local file="$1" step="$2" secs="$3" pid="$4" i
  for ((i = 0; i < secs * 5; i++)); do
    grep -qs "^$step " "$file" && return 0
    kill -0 "$pid" 2>/dev/null || { grep -qs "^$step " "$file"; return; }
    sleep 0.2
  done
  return 1
}

# holder_fields FILE: the CSV fields held,failed,open_s,probe_ms_median,probe_ms_max,probe_failed,dropped,errors
# from the holder's `held`, `probes` and `released` lines (errors: the most frequent messages, ; separated).
holder_fields() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
    const step = (name) => JSON.parse(lines.find((l) => l.startsWith(name + " "))?.slice(name.length + 1) ?? "{}");
    const held = step("held"), probes = step("probes"), released = step("released");
    const ms = (probes.ms ?? []).slice().sort((a, b) => a - b);
    const mid = ms.length % 2 ? ms[(ms.length - 1) / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
    const median = ms.length === 0 ? "" : mid.toFixed(1);
    const errors = { ...held.errors, ...probes.errors };
    const text = Object.entries(errors).map(([m, n]) => `${n}x ${m}`).join("; ").replace(/[,\n]/g, " ");
    const dropped = released.dropped ?? probes.dropped ?? "";
    console.log([held.held ?? "", held.failed ?? "", held.seconds ?? "", median, ms.at(-1) ?? "", probes.failed ?? "", dropped, text].join(","));
  ' "$1"
}

# hold_clients TARGET N FILE: runs the holder against TARGET in the background (its PID in CHILD_PID, so that the
# exit trap stops it) with its stdout in FILE and its stderr in FILE.err.
hold_clients() {
  "${CLIENT_ENV[@]}" node "$BENCH_HOME/hold-clients.mjs" --port "${PORT_OF[$1]}" --clients "$2" --ca "$CA_FILE" \
    >"$3" 2>"$3.err" &
  CHILD_PID=$!
}

# release_holder: SIGTERM to the holder and wait (at most 60 s) until it has closed its sessions and exited.
release_holder() {
  local i
  kill -TERM "$CHILD_PID" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$CHILD_PID" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$CHILD_PID" 2>/dev/null || true
  wait "$CHILD_PID" 2>/dev/null || true
  CHILD_PID=""
}

# memory_one TARGET REP: one hold of CLIENTS clients; appends a row to memory.csv.
memory_one() {
  local target="$1" rep="$2" pid="${PID_OF[$1]}" marker="${MARKER_OF[$1]}"
  local raw="$OUT/raw/memory-$target-r$rep.log" rc=0 rss0 rss1 t0 t1 own0 own1 tot0 idle0 tot1 idle1
  if ! pid_is "$pid" "$marker"; then
    log "$target: its process $pid is gone; skipping rep $rep"
    case "$target" in gatehouse*) gatehouse_gone "$pid" ;; esac
    echo "$rep,$target,$CLIENTS,proxy-gone,,,,,,,,,,,,,,," >>"$OUT/memory.csv"
    FAILURES=$((FAILURES + 1))
    return
  fi
  wait_quiet >/dev/null
  rss0="$(tree_rss_kb "$pid")"; t0="$(tree_ticks "$pid")"; own0="$(tree_ticks $$ "${PGB_PID[@]}")"
  read -r tot0 idle0 < <(sys_cpu)
  hold_clients "$target" "$CLIENTS" "$raw"
  # Logins run at some hundreds per second on 2 busy cores; allow 20 per second and two minutes more.
  if holder_step "$raw" held $((CLIENTS / 20 + 120)) "$CHILD_PID"; then
    t1="$(tree_ticks "$pid")"; own1="$(tree_ticks $$ "${PGB_PID[@]}")"
    read -r tot1 idle1 < <(sys_cpu)
    sleep "$MEMORY_SETTLE"
    rss1="$(tree_rss_kb "$pid")"
    kill -USR1 "$CHILD_PID"
    holder_step "$raw" probes 120 "$CHILD_PID" || rc=probes-timeout
  else
    rc=hold-timeout; t1="$(tree_ticks "$pid")"; rss1="$(tree_rss_kb "$pid")"; own1="$(tree_ticks $$ "${PGB_PID[@]}")"
    read -r tot1 idle1 < <(sys_cpu)
  fi
  release_holder
  local held failed open_s p50 pmax pfailed dropped errors kb="" cpu_s us="" others
  IFS=, read -r held failed open_s p50 pmax pfailed dropped errors < <(holder_fields "$raw")
  [ "$rc" != 0 ] || [ "${held:-0}" = "$CLIENTS" ] || rc=not-all-held
  cpu_s="$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')"
  if [ "${held:-0}" -gt 0 ]; then
    kb="$(awk -v a="$rss0" -v b="$rss1" -v n="$held" 'BEGIN { printf "%.1f", (b - a) / n }')"
    us="$(awk -v c="$cpu_s" -v n="$held" 'BEGIN { printf "%.0f", 1e6 * c / n }')"
  fi
  others="$(awk -v t=$((tot1 - tot0)) -v i=$((idle1 - idle0)) -v o=$((own1 - own0)) \
    'BEGIN { x = t > 0 ? 100 * (t - i - o) / t : 0; printf "%.1f", x < 0 ? 0 : x }')"
  echo "$rep,$target,$CLIENTS,$rc,$held,$failed,$open_s,$rss0,$rss1,$kb,$cpu_s,$us,$p50,$pmax,$pfailed,$dropped,$others,$errors,raw/$(basename "$raw")" >>"$OUT/memory.csv"
  printf '  rep %s %-28s held=%s/%s in %ss  RSS %s → %s kB = %s kB/client  login CPU=%s µs/client  new client: %s ms (max %s)  others=%s%%  %s\n' \
    "$rep" "$target" "${held:-0}" "$CLIENTS" "${open_s:-?}" "$rss0" "$rss1" "${kb:--}" "${us:--}" "${p50:--}" "${pmax:--}" "$others" "$rc" >&2
  if [ "$rc" != 0 ] || [ "${pfailed:-0}" != 0 ] || [ "${dropped:-0}" != 0 ]; then
    FAILURES=$((FAILURES + 1))
    log "$target rep $rep failed ($rc; probes failed ${pfailed:-?}, dropped ${dropped:-?}): $errors; holder's stderr:"
    tail -5 "$raw.err" >&2
    case "$target" in gatehouse*) pid_is "$pid" "$marker" && tail -20 "${GH_LOG[$target]}" >&2 ;; esac
  fi
}

if [ "$WARMUP" -gt 0 ]; then
  for target in "${HOLD_TARGETS[@]}"; do
    log "warm-up: $((CLIENTS < 500 ? CLIENTS : 500)) clients held and released by $target (not recorded)"
    hold_clients "$target" $((CLIENTS < 500 ? CLIENTS : 500)) "$OUT/raw/warmup-memory-$target.log"
    holder_step "$OUT/raw/warmup-memory-$target.log" held 150 "$CHILD_PID" || log "warm-up against $target did not finish"
    release_holder
  done
fi

log "memory: $REPS repetition(s) × ${HOLD_TARGETS[*]}, $CLIENTS clients held each"
for ((rep = 1; rep <= REPS; rep++)); do
  for ((k = 0; k < ${#HOLD_TARGETS[@]}; k++)); do
    memory_one "${HOLD_TARGETS[$(((k + rep - 1) % ${#HOLD_TARGETS[@]}))]}" "$rep"
  done
done
