#!/usr/bin/env bash
# The newcomer's tour (run by `make demo`): simulate a prefecture booking site with scalpers,
# detect them into an embedded history store, measure the result, and look at it as an
# investigator would. Everything stays under var/demo; nothing needs a server.
set -euo pipefail
cd "$(dirname "$0")/.."
SG=.venv/bin/slotguard
DEMO=var/demo
SEED=${DEMO_SEED:-4242}
rm -rf "$DEMO"
mkdir -p "$DEMO"
STORE="chdb:$DEMO/store"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Simulate 7 days of three prefecture sites (seed $SEED): applicants, families, associations, buyers, and four kinds of scalpers"
$SG simulate --seed "$SEED" --accounts 3000 --days 7 --out "$DEMO/world"

step "2. Detect: every event through the behavioural features and the model; verdicts and history into $STORE"
$SG detect "$DEMO/world/events.jsonl" --out "$DEMO/verdicts.jsonl" --store "$STORE"

step "3. Evaluate against the simulator's ground truth (report with a precision-recall plot)"
$SG evaluate --labels "$DEMO/world/labels.jsonl" "$DEMO/verdicts.jsonl" --report "$DEMO/report.md"

step "4. The investigator's queue: flagged accounts, highest score first, with their evidence"
$SG flagged --store "$STORE" --limit 8

TOP=$($SG flagged --store "$STORE" --limit 1 --format json | .venv/bin/python -c 'import json,sys; print(json.loads(sys.stdin.readline())["account_id"])')
step "5. One account in depth: timeline, verdict, and who it is linked to ($TOP)"
$SG account "$TOP" --store "$STORE" --events 15

step "6. An investigator confirms it; decisions become training labels"
$SG decide "$TOP" confirm --note "demo: shared device and resale pattern checked" --by demo --store "$STORE"

printf '\nDone. Verdicts: %s  Report: %s  Plot: %s\n' "$DEMO/verdicts.jsonl" "$DEMO/report.md" "$DEMO/report.pr.png"
printf 'Try: %s flagged --store %s --format json | head -3\n' "$SG" "$STORE"
