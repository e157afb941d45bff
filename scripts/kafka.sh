#!/usr/bin/env bash
# A private Apache Kafka broker for development and tests: a single KRaft node (broker and
# controller in one JVM) run from Maven Central jars, as the current user, listening on 127.0.0.1
# only, with its own config, data and logs under DIR.
#
#   scripts/kafka.sh jars              resolve the broker's jars into var/kafka-jars (once)
#   scripts/kafka.sh start     [DIR]   start it (idempotent) and wait until it answers metadata
#   scripts/kafka.sh stop      [DIR]   stop it and wait until nothing of it is left running
#   scripts/kafka.sh kill      [DIR]   SIGKILL it (a broker crash, for fault-injection tests)
#   scripts/kafka.sh status    [DIR]   exit 0 and print the bootstrap address if it is up, exit 1 otherwise
#   scripts/kafka.sh bootstrap [DIR]   print the bootstrap address (127.0.0.1:PORT) for it
#
# DIR defaults to var/kafka. Ports: client $KAFKA_PORT (9092), controller $KAFKA_CONTROLLER_PORT
# (9095, not 9093, which Alertmanager uses); unset, they default to the ports DIR was last started
# with. Storage is formatted with a random cluster id on the first start. Topics are not
# auto-created: slotguard creates its topics with an explicit partition count.
# Needs Java 17+ and, for `jars`, Maven: scripts/ensure-apt.sh openjdk-17-jre-headless maven
set -euo pipefail

cmd=${1:-status}
dir=${2:-var/kafka}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
jars=${KAFKA_JARS_DIR:-$root/var/kafka-jars}
wait_s=${KAFKA_START_TIMEOUT:-60}
stop_s=${KAFKA_STOP_TIMEOUT:-20}

if [ "$cmd" != jars ]; then
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
fi
pidfile="$dir/kafka.pid"
config="$dir/server.properties"

configured_port() {
  # the port of listener $1 in DIR's server.properties from the last start (empty when none)
  [ -f "$config" ] || return 0
  sed -n "s/^listeners=.*$1:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p" "$config" | tail -n 1
}

port=${KAFKA_PORT:-$(configured_port PLAINTEXT)}
port=${port:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-$(configured_port CONTROLLER)}
controller_port=${controller_port:-9095}
bootstrap="127.0.0.1:${port}"
# C1 only: the JVM's C2 compiler threads would compete with the broker's start for 2 cores (~1.5 s);
# KAFKA_JVM_OPTS= (empty) gives full JIT for throughput benchmarks
read -ra extra_opts <<<"${KAFKA_JVM_OPTS--XX:TieredStopAtLevel=1}"
# the broker logs to DIR/log/server.log; -cp takes the jars directory as a wildcard
jvm=(java -Xmx512m "${extra_opts[@]}" -Djava.awt.headless=true "-Dkafka.logs.dir=$dir/log"
  "-Dlog4j2.configurationFile=$here/kafka/log4j2.yaml" -cp "$jars/*")

need_java() {
  command -v java >/dev/null 2>&1 || {
    echo "kafka.sh: java is not installed; run: scripts/ensure-apt.sh openjdk-17-jre-headless" >&2
    exit 3
  }
}

jars_stamp() {
  # the jars are complete when the stamp names the pom they were resolved from
  sha256sum "$here/kafka/pom.xml" | cut -d' ' -f1
}

jars_present() {
  [ -f "$jars/.complete" ] && [ "$(cat "$jars/.complete")" = "$(jars_stamp)" ]
}

resolve_jars() {
  if jars_present; then
    return 0
  fi
  need_java
  command -v mvn >/dev/null 2>&1 || {
    echo "kafka.sh: mvn is not installed; run: scripts/ensure-apt.sh maven" >&2
    exit 3
  }
  # resolve into a fresh directory and swap it in, so a failed or interrupted run leaves no half set
  local tmp="$jars.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$jars")"
  echo "kafka.sh: resolving the Kafka broker jars from Maven Central into $jars" >&2
  # Maven 3.8 prints bare colour resets even when quiet: keep only real lines
  if ! mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 |
    sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2; then
    rm -rf "$tmp"
    echo "kafka.sh: mvn could not resolve the broker jars (see above)" >&2
    exit 7
  fi
  jars_stamp >"$tmp/.complete"
  rm -rf "$jars"
  mv "$tmp" "$jars"
}

need_jars() {
  jars_present || {
    echo "kafka.sh: the Kafka jars are missing in $jars; run: scripts/kafka.sh jars" >&2
    exit 3
  }
}

alive() {
  # a process that has exited but is not yet reaped (a zombie) counts as gone
  [ -r "/proc/$1/stat" ] || return 1
  local state
  state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
  [ -n "$state" ] && [ "$state" != Z ]
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] && alive "$pid" || return 1
  # a recycled pid is not our broker: its command line names this DIR's server.properties
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $config" || return 1
  echo "$pid"
}

answers() {
  # readiness = a Metadata request is answered with at least one broker (not just an open port)
  python3 "$here/kafka_ready.py" "$bootstrap" --timeout 1
}

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
  mkdir -p "$dir/data" "$dir/log"
  cat >"$config" <<EOF
# written by scripts/kafka.sh on each start; edit the script, not this file
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
auto.create.topics.enable=false
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=4
group.initial.rebalance.delay.ms=0
log.retention.hours=720
log.retention.bytes=-1
log.segment.bytes=134217728
log.cleaner.dedupe.buffer.size=33554432
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
# a crash-restarted broker re-registers only once its old session has expired: keep that short
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=750
EOF
}

format_storage() {
  # first start only: a fresh random cluster id; meta.properties marks formatted storage
  [ -f "$dir/data/meta.properties" ] && return 0
  # what `StorageTool random-uuid` prints (16 random bytes, base64url, no padding, no leading '-'),
  # without a JVM start of its own
  local cluster_id
  cluster_id=$(python3 -c 'import base64, os
while (u := base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()).startswith("-"): pass
print(u)')
  if ! "${jvm[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$config" \
    >>"$dir/log/format.log" 2>&1; then
    echo "kafka.sh: formatting the storage in $dir/data failed:" >&2
    tail -n 20 "$dir/log/format.log" >&2 || true
    exit 5
  fi
  echo "$cluster_id" >"$dir/cluster-id"
}

start() {
  if running_pid >/dev/null && answers; then
    echo "$bootstrap"
    return 0
  fi
  need_java
  need_jars
  if ! running_pid >/dev/null; then
    # a port taken by someone else would make our broker exit: say so instead of waiting
    local p
    for p in "$port" "$controller_port"; do
      if port_taken "$p"; then
        echo "kafka.sh: port $p on 127.0.0.1 is already in use by another process" >&2
        echo "kafka.sh: (a broker of another DIR? see: pgrep -af kafka.Kafka; or choose KAFKA_PORT/KAFKA_CONTROLLER_PORT)" >&2
        exit 4
      fi
    done
    write_config
    format_storage
    # setsid: the broker survives the calling shell; its pid is recorded for stop
    setsid "${jvm[@]}" kafka.Kafka "$config" >>"$dir/log/stdout.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
  fi
  local deadline=$((SECONDS + wait_s))
  until answers; do
    if ! running_pid >/dev/null; then
      echo "kafka.sh: broker exited during start; last log lines:" >&2
      tail -n 20 "$dir/log/server.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
      rm -f "$pidfile"
      exit 5
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "kafka.sh: broker did not answer within ${wait_s}s (logs in $dir/log)" >&2
      exit 6
    fi
    sleep 0.2
  done
  echo "$bootstrap"
}

wait_gone() {
  while alive "$1"; do sleep 0.1; done
  # the JVM's main thread can be a zombie while its other threads still hold the listeners: wait
  # (up to 10 s per port) until they are closed, so that a start right after finds them free
  local p
  for p in "$port" "$controller_port"; do
    for _ in $(seq 1 100); do
      port_taken "$p" || break
      sleep 0.1
    done
  done
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((stop_s * 10))); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    echo "kafka.sh: broker $pid ignored SIGTERM for ${stop_s}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait_gone "$pid"
  rm -f "$pidfile"
}

crash() {
  local pid
  if pid=$(running_pid); then
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid"
  fi
  rm -f "$pidfile"
}

case "$cmd" in
  jars) resolve_jars ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status)
    if running_pid >/dev/null && answers; then
      echo "$bootstrap"
    else
      echo "not running" >&2
      exit 1
    fi
    ;;
  bootstrap) echo "$bootstrap" ;;
  *)
    echo "usage: scripts/kafka.sh jars | start|stop|kill|status|bootstrap [DIR]" >&2
    exit 2
    ;;
esac
