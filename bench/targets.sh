# shellcheck shell=bash
# The processes bench/run.sh measures (sourced by it): starting gatehouse and PgBouncer, checking a login through
# them, saying how gatehouse ended, and stopping everything on exit. Uses run.sh's globals (OUT, WORK, the
# state.env variables, TARGETS, PORT_OF, PID_OF, MARKER_OF, GH_PID, GH_CONFIG, GH_LOG, PGB_PID, CHILD_PID).

cleanup() {
  local rc=$? mode target
  set +e
  trap '' INT TERM HUP # a second Ctrl-C must not cut the cleanup short
  [ -z "$CHILD_PID" ] || { kill -TERM "$CHILD_PID" 2>/dev/null; wait "$CHILD_PID" 2>/dev/null; }
  for target in "${!GH_PID[@]}"; do stop_pid "${GH_PID[$target]}" "${GH_CONFIG[$target]}" 15; done
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

# tls_check PORT LABEL: one query with full certificate verification; shows the TLS state of the PostgreSQL side.
tls_check() {
  timeout 30 "${CLIENT_ENV[@]}" PGPORT="$1" PGSSLMODE=verify-full PGSSLROOTCERT="$CA_FILE" psql -X -At -c \
    "SELECT '$2 → PostgreSQL: ssl=' || ssl || ' ' || version FROM pg_stat_ssl WHERE pid = pg_backend_pid()" >&2
}

# start_gatehouse TARGET CHECKOUT CONFIG PORT LOG: `node CHECKOUT/dist/cli.js --config CONFIG` (with
# GATEHOUSE_NODE_ARGS), listening on PORT, its output in OUT/LOG; checked with one TLS login; becomes a target.
start_gatehouse() {
  local target="$1" checkout="$2" config="$3" port="$4" logfile="$OUT/$5" pid argv=()
  log "starting $target ($checkout) on 127.0.0.1:$port"
  read -r -a argv <<<"${GATEHOUSE_NODE_ARGS:-}"
  node "${argv[@]}" "$checkout/dist/cli.js" --config "$config" >"$logfile" 2>&1 &
  pid=$!
  GH_PID[$target]="$pid"; GH_CONFIG[$target]="$config"; GH_LOG[$target]="$logfile"
  if ! await_exec "$pid" "$config" || ! wait_listening "$port" 30 "$pid" "$config"; then
    tail -40 "$logfile" >&2
    die "$target did not start listening (its log is above)"
  fi
  tls_check "$port" "client → $target" || { tail -40 "$logfile" >&2; die "a TLS + SCRAM login through $target failed (its log is above)"; }
  TARGETS+=("$target"); PORT_OF[$target]="$port"; PID_OF[$target]="$pid"; MARKER_OF[$target]="$config"
}

# start_pgbouncer MODE: PgBouncer as the cluster's OS user, its descriptor limit raised to the hard limit (runuser
# starts it with the soft one, often 1024) so that max_client_conn clients fit; becomes target pgbouncer-MODE.
start_pgbouncer() {
  local mode="$1" dir_var="PGB_${1^^}_DIR" port_var="PGB_${1^^}_PORT" dir port pid="" i
  dir="${!dir_var}"; port="${!port_var}"
  log "starting PgBouncer ($mode pooling) on 127.0.0.1:$port${RUN_AS:+ as OS user $RUN_AS}"
  # shellcheck disable=SC2016 # $0 is expanded by the inner shell
  as_run_user bash -c 'ulimit -n "$(ulimit -Hn)" && exec pgbouncer -d -q "$0"' "$dir/pgbouncer.ini" \
    || { cat "$dir/pgbouncer.log" >&2; die "pgbouncer ($mode) did not start"; }
  for ((i = 0; i < 100; i++)); do
    pid="$(tr -dc '0-9' 2>/dev/null <"$dir/pgbouncer.pid" || true)"
    pid_is "$pid" "$dir/pgbouncer.ini" && break
    pid=""; sleep 0.1
  done
  [ -n "$pid" ] || { cat "$dir/pgbouncer.log" >&2; die "no running pgbouncer behind $dir/pgbouncer.pid"; }
  PGB_PID[$mode]="$pid"
  wait_listening "$port" 20 "$pid" "$dir/pgbouncer.ini" || die "pgbouncer ($mode) is not listening on $port"
  tls_check "$port" "client → pgbouncer ($mode)" || { cat "$dir/pgbouncer.log" >&2; die "login through pgbouncer ($mode) failed"; }
  TARGETS+=("pgbouncer-$mode"); PORT_OF[pgbouncer-$mode]="$port"; PID_OF[pgbouncer-$mode]="$pid"
  MARKER_OF[pgbouncer-$mode]="$dir/pgbouncer.ini"
}

# gatehouse_gone PID: says how gatehouse ended (it is our child, so `wait` still has its exit status).
gatehouse_gone() {
  local st=0 target
  wait "$1" 2>/dev/null || st=$?
  if [ "$st" -gt 128 ]; then log "gatehouse (PID $1) is gone: killed by signal $((st - 128)) ($(kill -l $((st - 128))))"
  else log "gatehouse (PID $1) is gone: exit status $st"; fi
  for target in "${!GH_PID[@]}"; do
    [ "${GH_PID[$target]}" != "$1" ] || { log "end of $target's log:"; tail -40 "${GH_LOG[$target]}" >&2; }
  done
}
