#!/bin/bash
# A generated Orchfile with a flood of errors: 600 services, each AFTER every
# other (179,702 dependency cycles found). orchd validate and parse print at
# most ORCH_DIAGS_MAX (100) of them and "... and N more", in bounded time and
# memory, and fail. Run by ctest with ORCHD=<binary>; exit 77 means skipped.
set -eu
ORCHD=${ORCHD:?set ORCHD to the orchd binary}
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time is missing"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/orch-cli-diagcap.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; head -c 2000 "$tmp/err" >&2 || true; exit 1; }

N=600
python3 - "$N" "$tmp/Orchfile" > "$tmp/cycles" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
names = [f"s{i}" for i in range(n)]
with open(path, "w") as f:
    for i, s in enumerate(names):
        f.write(f"SERVICE {s}\nRUN true\nAFTER {' '.join(x for x in names if x != s)}\n\n")
# the cycles the validator reports: back edges of a depth-first search in
# file order, over each service's AFTER list in order (validate.c)
adj = [[j for j in range(n) if j != i] for i in range(n)]
color = [0] * n
back = 0
for r in range(n):
    if color[r]:
        continue
    stack = [[r, 0]]
    color[r] = 1
    while stack:
        fr = stack[-1]
        if fr[1] == len(adj[fr[0]]):
            color[fr[0]] = 2
            stack.pop()
            continue
        j = adj[fr[0]][fr[1]]
        fr[1] += 1
        if color[j] == 1:
            back += 1
        elif color[j] == 0:
            color[j] = 1
            stack.append([j, 0])
print(back)
PY
total=$(cat "$tmp/cycles")
echo "Orchfile: $(wc -c < "$tmp/Orchfile") bytes, $total cycles expected"

for verb in validate parse; do
    set +e
    /usr/bin/time -v -o "$tmp/time" timeout 60 "$ORCHD" "$verb" "$tmp/Orchfile" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    set -e
    [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] || fail "$verb: exit code $rc, want a clean failure"
    bytes=$(wc -c < "$tmp/err")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time")
    shown=$(grep -c "dependency cycle (C4)" "$tmp/err" || true)
    last=$(tail -n 1 "$tmp/err")
    echo "$verb: exit $rc, $bytes bytes of diagnostics ($shown shown), max RSS ${rss} KB, $secs"
    [ "$bytes" -lt 102400 ] || fail "$verb: $bytes bytes of output, want < 100 KB"
    [ "$shown" -eq 100 ] || fail "$verb: $shown cycles shown, want 100"
    [ "$last" = "... and $((total - shown)) more" ] ||
        fail "$verb: last line '$last', want '... and $((total - shown)) more'"
    [ "$rss" -lt 131072 ] || fail "$verb: max RSS $rss KB, want < 128 MB (ASan builds take ~70)"
done
echo "ok"
