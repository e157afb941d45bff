#!/usr/bin/env bash
# Debian's Alertmanager for `slotguard stack`, with alerts/alertmanager.yml, on 127.0.0.1:$AM_PORT
# (9093; clustering off), and the webhook receiver its receivers post to (alerts/receiver.py on
# 127.0.0.1:$RECEIVER_PORT, 9095), which appends every notification to DIR/notifications.jsonl.
#
#   scripts/alertmanager.sh start  [DIR]   start both (idempotent) and wait until they answer
#   scripts/alertmanager.sh stop   [DIR]   stop both
#   scripts/alertmanager.sh status [DIR]   exit 0 and print the URL if Alertmanager is up
#
# Install first with: scripts/ensure-apt.sh prometheus-alertmanager
set -euo pipefail

cmd=${1:-status}
dir=${2:-var/stack/alertmanager}
port=${AM_PORT:-9093}
receiver_port=${RECEIVER_PORT:-9095}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
url="http://127.0.0.1:$port"
python=${PYTHON:-"$repo/.venv/bin/python"}
# shellcheck source=scripts/service-lib.sh
. "$repo/scripts/service-lib.sh"

case "$cmd" in
  start)
    bin=$(command -v prometheus-alertmanager || echo /usr/bin/prometheus-alertmanager)
    [ -x "$bin" ] || { echo "alertmanager is not installed; run: scripts/ensure-apt.sh prometheus-alertmanager" >&2; exit 3; }
    start_server receiver "$receiver_port" "http://127.0.0.1:$receiver_port/" \
      env PYTHONPATH="$repo" "$python" -m alerts.receiver --port "$receiver_port" --out "$dir/notifications.jsonl"
    start_server alertmanager "$port" "$url/-/ready" "$bin" \
      --config.file="$repo/alerts/alertmanager.yml" --storage.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --cluster.listen-address=
    echo "$url"
    ;;
  stop)
    stop_server alertmanager
    stop_server receiver
    ;;
  status)
    if running_pid alertmanager >/dev/null && answers "$url/-/ready"; then echo "$url"; else echo "not running" >&2; exit 1; fi
    ;;
  *) echo "usage: scripts/alertmanager.sh start|stop|status [DIR]" >&2; exit 2 ;;
esac
