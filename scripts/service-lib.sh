# Shared by scripts/prometheus.sh and scripts/alertmanager.sh: run one server as the current user,
# in the background (setsid), its pid in DIR/NAME.pid, its log in DIR/NAME.log; readiness = an
# HTTP URL answering 200. Sourced, not run.

running_pid() {  # NAME
  local pidfile="$dir/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() {  # URL
  curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null
}

port_taken() {  # PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_server() {  # NAME PORT READY_URL COMMAND...
  local name=$1 port=$2 ready=$3
  shift 3
  if running_pid "$name" >/dev/null && answers "$ready"; then
    return 0
  fi
  if ! running_pid "$name" >/dev/null; then
    if port_taken "$port"; then
      echo "$name: port $port on 127.0.0.1 is already in use by another process" >&2
      exit 4
    fi
    setsid "$@" >>"$dir/$name.log" 2>&1 </dev/null &
    echo $! >"$dir/$name.pid"
  fi
  local deadline=$((SECONDS + ${START_TIMEOUT:-30}))
  until answers "$ready"; do
    if ! running_pid "$name" >/dev/null; then
      echo "$name: exited during start; last log lines:" >&2
      tail -n 20 "$dir/$name.log" >&2 || true
      rm -f "$dir/$name.pid"
      exit 5
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "$name: did not answer at $ready (log: $dir/$name.log)" >&2
      exit 6
    fi
    sleep 0.2
  done
}

stop_server() {  # NAME
  local pid
  if ! pid=$(running_pid "$1"); then
    rm -f "$dir/$1.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$dir/$1.pid"
}
