#!/usr/bin/env bash
# The fragment bomb of issue 12, against a server it starts itself on 127.0.0.1 (nowhere else):
# each client sends a start-up, then FRAGMENTS replies marked fragment="next", each with
# ITEMS_PER_FRAGMENT items of ITEM_BYTES bytes, and reports where the server stopped it; the
# server's RSS and data directory are printed before and after. Needs python3 and bc.
# usage: scripts/fragment-bomb.sh BINARY ITEM_BYTES ITEMS_PER_FRAGMENT FRAGMENTS CLIENTS
#   e.g. scripts/fragment-bomb.sh ./target/release/opendls 1000000 1 30 1
set -u
bin=$1; shift
dir=$(mktemp -d)
"$bin" serve --phone-listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --dcmp-listen off --secure-listen off --data-dir "$dir/data" > "$dir/out" 2>/dev/null &
pid=$!
for i in $(seq 50); do grep -q "serving phones" "$dir/out" 2>/dev/null && break; sleep 0.2; done
port=$(sed -n 's#.*https://127.0.0.1:\([0-9]*\)/.*#\1#p' "$dir/out" | head -1)
rss() { awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$pid/status; }
hwm() { awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$pid/status; }
echo "before: RSS $(rss)"
start=$(date +%s.%N)
python3 "$(dirname "$0")/fragment-bomb.py" "$port" "$@"
end=$(date +%s.%N)
echo "after: RSS $(rss), peak $(hwm), attack took $(echo "$end - $start" | bc) s"
du -sh "$dir/data" | awk '{print "data directory " $1}'
kill $pid; wait $pid 2>/dev/null; rm -rf "$dir"
