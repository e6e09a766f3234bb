/**
 * The orphan guard's program, run by `/bin/sh -c` (see orphan-guard.ts): a shell starts in a
 * millisecond where a Node process takes a Node start-up (~45-90 ms of CPU), and `worker start`
 * starts one guard per worker process at the moment its first commands want the CPUs.
 *
 * When its stdin closes without a goodbye — the worker died, even by SIGKILL of its whole
 * process group — it kills every process the worker's commands left behind, so no command runs on
 * unsupervised.
 *
 * Which processes: on Linux, every process whose environment carries the worker's run mark ($1,
 * given to each command as QUEUECTL_RUN_MARK and inherited by all it starts), with its whole
 * process group; this needs no message per job. Elsewhere the worker lists its commands' process
 * groups on the pipe: `+<pgid>` started, `-<pgid>` gone. `bye`: the worker exits normally.
 *
 * It is also the worker's watchdog: `D <ms> <grace ms>` says the worker's commands may run `ms`
 * longer, until the earliest time one of their leases could be near its end. The worker moves it
 * on after each heartbeat the service answered; should it not (its connection is cut, the worker
 * is frozen or stopped), the guard ends every command of the worker then, SIGTERM, and SIGKILL
 * `grace` later. Being a process of its own, it acts whatever the worker's state.
 *
 * Only builtins run per line; a scan runs `find` and `grep -z` (GNU's or BusyBox's).
 */
export const ORPHAN_GUARD_SCRIPT = `
mark=$1
groups=' '
goodbye=
timer=
# The worker's terminal may go away with it: the guard must not die of it before it acts.
trap '' HUP INT PIPE

# "pid pgid" of each process whose environment holds the mark (none without /proc).
marked() {
  [ -n "$mark" ] && [ -r /proc/self/environ ] || return 0
  # find passes the files in batches, so no number of processes overflows an argument list.
  find /proc -mindepth 2 -maxdepth 2 -name environ -exec grep -lzxF "QUEUECTL_RUN_MARK=$mark" {} + 2>/dev/null | while IFS= read -r file; do
    pid=\${file#/proc/}
    pid=\${pid%/environ}
    number "$pid" || continue
    # Field 5 of stat is the process group; the command name before it may hold spaces.
    { IFS= read -r stat < "/proc/$pid/stat"; } 2>/dev/null || continue
    set -- \${stat##*) }
    echo "$pid $3"
  done
}

signal_all() {
  for g in $groups; do kill -s "$1" -- "-$g" 2>/dev/null; done
  marked | while read -r pid pgid; do
    [ "$pgid" -gt 1 ] && kill -s "$1" -- "-$pgid" 2>/dev/null
  done
}

# Again while anything is found: a process may have forked while the previous pass ran.
kill_all() {
  for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
  pass=0
  while [ $pass -lt 5 ]; do
    found=$(marked)
    [ -n "$found" ] || return 0
    echo "$found" | while read -r pid pgid; do
      [ "$pgid" -gt 1 ] && kill -s KILL -- "-$pgid" 2>/dev/null
      kill -s KILL "$pid" 2>/dev/null
    done
    pass=$((pass + 1))
  done
}

# Milliseconds as the seconds sleep takes: 1500 -> 1.500.
seconds() {
  r=$(($1 % 1000 + 1000))
  s="$(($1 / 1000)).\${r#1}"
}

# Runs in the background: SIGTERM at the deadline, SIGKILL after the grace; killed when moved on.
watchdog() {
  trap 'kill $sleeper 2>/dev/null; exit 0' TERM
  seconds "$1"
  sleep "$s" & sleeper=$!
  wait $sleeper
  signal_all TERM
  # A command stopped with its worker (Ctrl+Z) cannot take SIGTERM until continued; SIGKILL ends it anyway.
  seconds "$2"
  sleep "$s" & sleeper=$!
  wait $sleeper
  kill_all
}

disarm() {
  [ -z "$timer" ] || kill "$timer" 2>/dev/null
  timer=
}

number() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
}

while IFS= read -r line; do
  case $line in
    +*) number "\${line#+}" && groups="$groups\${line#+} " ;;
    -*)
      g=\${line#-}
      case $groups in *" $g "*) groups="\${groups%% $g *} \${groups#* $g }" ;; esac
      ;;
    bye) goodbye=1 ;;
    'D '*)
      set -- \${line#D }
      if number "$1" && number "$2"; then
        disarm
        watchdog "$1" "$2" &
        timer=$!
      fi
      ;;
  esac
done
disarm
[ -n "$goodbye" ] || kill_all
`;
