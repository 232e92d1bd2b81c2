# shellcheck shell=bash
# Helpers for bench/run.sh and bench/soak.sh (sourced, not executed): logging, process and port checks, CPU counters.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# usage: the leading comment block of run.sh.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$BENCH_HOME/run.sh"; }

# pid_is PID MARKER: the process exists and its command line contains MARKER (guards against reused PIDs).
pid_is() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# await_exec PID MARKER: right after `cmd &` the child is still a copy of this shell; wait (at most 5 s) until it
# has exec'ed, so that pid_is can tell it apart from a reused PID. Fails when it is gone before that.
await_exec() {
  local i
  for ((i = 0; i < 50; i++)); do
    pid_is "$1" "$2" && return 0
    [ -d "/proc/$1" ] || return 1
    sleep 0.1
  done
  return 1
}

# stop_pid PID MARKER SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL. Only if PID still is what we started.
stop_pid() {
  local pid="$1" marker="$2" secs="$3" i
  pid_is "$pid" "$marker" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    pid_is "$pid" "$marker" || return 0
    sleep 0.1
  done
  log "PID $pid did not stop within ${secs}s after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# tcp_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# wait_listening PORT SECONDS PID MARKER: until PORT accepts, or fail when the process is gone or time is up.
wait_listening() {
  local port="$1" secs="$2" pid="$3" marker="$4" i
  for ((i = 0; i < secs * 5; i++)); do
    tcp_open "$port" && return 0
    [ -z "$pid" ] || pid_is "$pid" "$marker" || return 1
    sleep 0.2
  done
  return 1
}

# tree_stat WHAT ROOT...: summed over the process trees under the ROOTs (from /proc/PID/stat; the command name,
# field 2, may contain spaces, so fields are counted after its closing parenthesis):
#   ticks  CPU clock ticks, utime+stime of each process plus cutime+cstime of the children it reaped (exited
#          backends, a finished pgbench, a worker process that ended)
#   rss    resident memory in kB (field rss × the page size; the same number as VmRSS in /proc/PID/status)
#   count  processes
# Lets run.sh measure a proxy with all its worker processes, and its own CPU use apart from other processes'.
tree_stat() {
  local what="$1"; shift
  # Processes come and go between the glob and cat: cat's complaint about a vanished one is expected.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v what="$what" -v roots="$*" -v page_kb="$(($(getconf PAGESIZE) / 1024))" '
    { pid = $1; rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
      v[pid] = what == "rss" ? f[22] * page_kb : what == "count" ? 1 : f[12] + f[13] + f[14] + f[15]; kids[f[2]] = kids[f[2]] " " pid }
    END {
      n = split(roots, r, " "); t = 0
      for (i = 1; i <= n; i++) if (r[i] in v && !(r[i] in seen)) { seen[r[i]] = 1; q[++t] = r[i] }
      total = 0
      for (h = 1; h <= t; h++) {
        p = q[h]; total += v[p]
        m = split(kids[p], c, " ")
        for (j = 1; j <= m; j++) if (!(c[j] in seen)) { seen[c[j]] = 1; q[++t] = c[j] }
      }
      print total + 0
    }'
}
tree_ticks() { tree_stat ticks "$@"; }
tree_rss_kb() { tree_stat rss "$@"; }

# sys_cpu: "total idle" jiffies of all CPUs (idle includes iowait).
sys_cpu() { awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6 }' /proc/stat; }

# busy_pct SECONDS: how busy the CPUs were over the next SECONDS, in %.
busy_pct() {
  local a0 i0 a1 i1
  read -r a0 i0 < <(sys_cpu); sleep "$1"; read -r a1 i1 < <(sys_cpu)
  awk -v t=$((a1 - a0)) -v i=$((i1 - i0)) 'BEGIN { if (t > 0) printf "%.0f", 100 - 100 * i / t; else print 0 }'
}

# wait_quiet: the machine may be shared; wait (at most QUIET_WAIT s) until the CPUs are under QUIET_BUSY % busy.
# Prints the busy % last seen.
wait_quiet() {
  local waited=0 busy
  while :; do
    busy="$(busy_pct 2)"
    if [ "$busy" -lt "$QUIET_BUSY" ] || [ "$waited" -ge "$QUIET_WAIT" ]; then break; fi
    waited=$((waited + 2))
  done
  [ "$busy" -lt "$QUIET_BUSY" ] || log "CPUs still ${busy}% busy after ${waited}s of waiting; running anyway"
  echo "$busy"
}

# pgbench_value FILE PREFIX FIELD: field FIELD of the last line of pgbench's report that starts with PREFIX.
pgbench_value() {
  awk -v pat="$2" -v fld="$3" 'index($0, pat) == 1 { v = $fld } END { print v }' "$1"
}

# as_run_user CMD...: run as $RUN_AS (the OS user the cluster runs as) when we are root, else as ourselves.
as_run_user() {
  if [ -n "${RUN_AS:-}" ] && [ "$(id -u)" = 0 ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

# await_setup PID WORK LOG: wait (at most 180 s) until bench/setup.mjs (PID) has written WORK/state.env; dies with
# its log when it fails or takes too long.
await_setup() {
  local pid="$1" work="$2" setup_log="$3" i
  await_exec "$pid" "setup.mjs --work $work" || { cat "$setup_log" >&2; die "setup.mjs did not start"; }
  for ((i = 0; i < 1800; i++)); do
    [ -f "$work/state.env" ] && return 0
    pid_is "$pid" "setup.mjs --work $work" || { cat "$setup_log" >&2; die "setup.mjs failed (log above)"; }
    sleep 0.1
  done
  cat "$setup_log" >&2; die "setup.mjs was not ready within 180 s"
}
