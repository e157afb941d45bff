#!/usr/bin/env bash
# A private ClickHouse server for tests and benchmarks: Debian's clickhouse-server, run as the
# current user, listening on 127.0.0.1 only, with its own config, data and logs under DIR.
#
#   scripts/clickhouse.sh start  [DIR]   start it (idempotent) and wait until it answers queries
#   scripts/clickhouse.sh stop   [DIR]   stop it and wait until nothing of it is left running
#   scripts/clickhouse.sh status [DIR]   exit 0 and print the URL if it is up, exit 1 otherwise
#   scripts/clickhouse.sh url    [DIR]   print the slotguard store URL for it
#
# DIR defaults to var/clickhouse-server. Ports: native $CH_TCP_PORT (19000), HTTP $CH_HTTP_PORT
# (18123), never the system defaults, so a system server (if any) is neither used nor disturbed.
# Install the server first with: scripts/ensure-apt.sh clickhouse-server clickhouse-client
# Users: `default` (no password, all rights: migrations, tests) and `slotguard_app` (password
# slotguard-app, profile `app` with allow_ddl=0: what the investigator console should run as).
set -euo pipefail

cmd=${1:-status}
dir=${2:-var/clickhouse-server}
tcp_port=${CH_TCP_PORT:-19000}
http_port=${CH_HTTP_PORT:-18123}
wait_s=${CH_START_TIMEOUT:-60}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile="$dir/clickhouse-server.pid"
url="clickhouse://default:@127.0.0.1:${tcp_port}/slotguard"

server_bin() {
  command -v clickhouse-server 2>/dev/null || { [ -x /usr/sbin/clickhouse-server ] && echo /usr/sbin/clickhouse-server; } || {
    echo "clickhouse.sh: clickhouse-server is not installed; run: scripts/ensure-apt.sh clickhouse-server clickhouse-client" >&2
    exit 3
  }
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

answers() {
  # readiness = the native port answers a query (the HTTP /ping answers earlier than that)
  if command -v clickhouse-client >/dev/null 2>&1; then
    clickhouse-client --host 127.0.0.1 --port "$tcp_port" --query 'SELECT 1' >/dev/null 2>&1
  else
    [ "$(curl -fsS "http://127.0.0.1:${http_port}/?query=SELECT%201" 2>/dev/null)" = "1" ]
  fi
}

write_config() {
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/log/clickhouse-server.log</log>
        <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$http_port</http_port>
    <tcp_port>$tcp_port</tcp_port>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>64</max_concurrent_queries>
    <uncompressed_cache_size>1073741824</uncompressed_cache_size>
    <mark_cache_size>1073741824</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
  cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>8000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
            <!-- idle connections notice a shutdown within 1s (default 10s), so stop is quick -->
            <poll_interval>1</poll_interval>
        </default>
        <!-- the investigator console's application user: reads, inserts, no DDL (18.16 has no GRANT):
             refuses ALTER ... UPDATE/DELETE, DROP, TRUNCATE, OPTIMIZE, and changing allow_ddl back -->
        <app>
            <max_memory_usage>8000000000</max_memory_usage>
            <poll_interval>1</poll_interval>
            <allow_ddl>0</allow_ddl>
        </app>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks replace="replace">
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <slotguard_app>
            <password>slotguard-app</password>
            <networks replace="replace">
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>app</profile>
            <quota>default</quota>
        </slotguard_app>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

start() {
  if pid=$(running_pid) && answers; then
    echo "$url"
    return 0
  fi
  local bin
  bin=$(server_bin)
  write_config
  if ! pid=$(running_pid); then
    # a port taken by someone else would make our server exit: say so instead of waiting
    if (exec 3<>"/dev/tcp/127.0.0.1/$tcp_port") 2>/dev/null; then
      echo "clickhouse.sh: port $tcp_port on 127.0.0.1 is already in use by another process" >&2
      exit 4
    fi
    # setsid: the server survives the calling shell; its pid is recorded for stop
    setsid "$bin" --config-file="$dir/config.xml" >>"$dir/log/stdout.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
  fi
  local deadline=$((SECONDS + wait_s))
  until answers; do
    if ! running_pid >/dev/null; then
      echo "clickhouse.sh: server exited during start; last log lines:" >&2
      tail -n 20 "$dir/log/clickhouse-server.err.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
      rm -f "$pidfile"
      exit 5
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "clickhouse.sh: server did not answer within ${wait_s}s (logs in $dir/log)" >&2
      exit 6
    fi
    sleep 0.2
  done
  echo "$url"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "clickhouse.sh: server $pid ignored SIGTERM for 15s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$pidfile"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status)
    if running_pid >/dev/null && answers; then
      echo "$url"
    else
      echo "not running" >&2
      exit 1
    fi
    ;;
  url) echo "$url" ;;
  *)
    echo "usage: scripts/clickhouse.sh start|stop|status|url [DIR]" >&2
    exit 2
    ;;
esac
