#!/usr/bin/env bash
# Debian's Prometheus for `slotguard stack`: alerts/prometheus.yml (scrapes the worker on 9108 and
# a detect replay on 9109, rules from alerts/rules/, alerts to 127.0.0.1:9093), listening on
# 127.0.0.1:$PROM_PORT (9090) only, its data under DIR.
#
#   scripts/prometheus.sh start  [DIR]   start it (idempotent) and wait until it is ready
#   scripts/prometheus.sh stop   [DIR]   stop it
#   scripts/prometheus.sh status [DIR]   exit 0 and print its URL if it is up, exit 1 otherwise
#
# Install first with: scripts/ensure-apt.sh prometheus prometheus-alertmanager
set -euo pipefail

cmd=${1:-status}
dir=${2:-var/stack/prometheus}
port=${PROM_PORT:-9090}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
url="http://127.0.0.1:$port"
# shellcheck source=scripts/service-lib.sh
. "$repo/scripts/service-lib.sh"

case "$cmd" in
  start)
    bin=$(command -v prometheus || echo /usr/bin/prometheus)
    [ -x "$bin" ] || { echo "prometheus is not installed; run: scripts/ensure-apt.sh prometheus" >&2; exit 3; }
    start_server prometheus "$port" "$url/-/ready" "$bin" \
      --config.file="$repo/alerts/prometheus.yml" --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --web.enable-lifecycle
    echo "$url"
    ;;
  stop) stop_server prometheus ;;
  status)
    if running_pid prometheus >/dev/null && answers "$url/-/ready"; then echo "$url"; else echo "not running" >&2; exit 1; fi
    ;;
  *) echo "usage: scripts/prometheus.sh start|stop|status [DIR]" >&2; exit 2 ;;
esac
