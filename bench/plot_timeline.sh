#!/usr/bin/env bash
# plot_timeline.sh - draw one migration's shape from its --stats file.
#
#   bench/plot_timeline.sh STATS.json OUT.svg|OUT.png [TITLE]
#
# STATS.json is what `tern migrate --stats FILE` writes; its "timeline" holds
# one object per round: {"round": N, "start-ms": t (since the migration
# started), "duration-ms": d, "pages": p, "bytes": b, "dirty-pages-rate": r
# (pages/s the guest dirtied during the round), "paused": false}, the last
# one (the switch-over) with "paused": true. The chart has time on x and,
# in MB/s: each round's throughput (bytes / duration) as a bar as wide as
# the round, the guest's dirty rate as a line over the same rounds, and the
# paused round shaded and labelled with its length. Pages per round are
# printed above their bars. A file without a timeline, or an empty one, is
# an error (exit 1) naming the file; no gnuplot is exit 2 (bench/migrate.sh
# installs it; `apt-get install gnuplot-nox`).
set -u -o pipefail

[ $# -ge 2 ] && [ $# -le 3 ] || { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
stats=$1 out=$2 title=${3:-$(basename "$1")}
case $out in
*.svg) term="svg size 900,480 dynamic font 'sans,11' background '#ffffff'" ;;
*.png) term="pngcairo size 900,480 font 'sans,10'" ;;
*) echo "plot_timeline: $out: the output must end in .svg or .png" >&2; exit 2 ;;
esac
command -v gnuplot >/dev/null || { echo "plot_timeline: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 2; }
[ -r "$stats" ] || { echo "plot_timeline: cannot read $stats" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plot_timeline.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# JSON -> a data file (one row per round) and the gnuplot lines that depend
# on the data (pause rectangle, labels, ranges)
python3 - "$stats" "$tmp/rounds.dat" "$tmp/extra.gp" <<'PY' || exit 1
import json, sys
path, dat, extra = sys.argv[1:4]
try:
    st = json.load(open(path))
except (OSError, ValueError) as e:
    sys.exit(f"plot_timeline: {path}: not a JSON stats file: {e}")
tl = st.get("timeline") if isinstance(st, dict) else None
if not isinstance(tl, list) or not tl:
    sys.exit(f"plot_timeline: {path}: no \"timeline\" array (a tern migrate --stats file from a tern "
             "that records one is needed)")
need = ("round", "start-ms", "duration-ms", "pages", "bytes", "dirty-pages-rate", "paused")
rows = []
for i, r in enumerate(tl):
    miss = [k for k in need if k not in r]
    if miss:
        sys.exit(f"plot_timeline: {path}: timeline[{i}] lacks {', '.join(miss)}")
    s, d = float(r["start-ms"]), float(r["duration-ms"])
    if d < 0 or s < 0:
        sys.exit(f"plot_timeline: {path}: timeline[{i}] has a negative time")
    mbps = r["bytes"] / (d / 1e3) / 1e6 if d > 0 else 0.0
    dirty = r["dirty-pages-rate"] * 4096 / 1e6
    rows.append((s, s + d, mbps, dirty, bool(r["paused"]), int(r["round"]), int(r["pages"]), d))
with open(dat, "w") as f:
    f.write("# start_ms end_ms mbps dirty_mbps paused round pages\n")
    for s, e, m, dr, p, n, pg, d in rows:
        f.write(f"{s:.3f} {e:.3f} {m:.3f} {dr:.3f} {int(p)} {n} {pg}\n")
end = max(r[1] for r in rows)
top = max(max(r[2] for r in rows), max(r[3] for r in rows), 1.0)
with open(extra, "w") as f:
    f.write(f"set xrange [0:{end * 1.03 + 1:.3f}]\n")
    f.write(f"set yrange [0:{top * 1.25:.3f}]\n")
    for s, e, m, dr, p, n, pg, d in rows:
        if p:
            # a pause of a few ms is invisible on a seconds-long axis: at least 0.6 % wide
            w = max(e - s, end * 0.006)
            f.write(f"set object rect from {s:.3f},graph 0 to {s + w:.3f},graph 1 "
                    "fc rgb '#d62728' fs transparent solid 0.25 noborder behind\n")
            f.write(f"set label 'pause {d:.1f} ms' at {s:.3f},graph 0.95 right offset -0.5,0 "
                    "tc rgb '#d62728'\n")
    down = st.get("downtime")
    total = st.get("total-time")
    sub = []
    if total is not None:
        sub.append(f"total {float(total):.0f} ms")
    if down is not None:
        sub.append(f"downtime {float(down):.1f} ms")
    sub.append(f"{len(rows)} rounds")
    f.write(f"set label '{', '.join(sub)}' at graph 0.01,graph 0.95 left\n")
PY

cat >"$tmp/plot.gp" <<EOF
set terminal $term
set output '$out'
set title "$(printf '%s' "$title" | tr -d '"\\')"
set xlabel 'time since the migration started (ms)'
set ylabel 'MB/s'
set key outside bottom center horizontal
set grid ytics lc rgb '#dddddd'
set style fill solid 0.55 border lc rgb '#1f4e79'
load '$tmp/extra.gp'
plot '$tmp/rounds.dat' using ((\$1+\$2)/2):3:((\$2-\$1)) with boxes lc rgb '#1f77b4' title 'round throughput (bytes / round time)', \
     '' using ((\$1+\$2)/2):3:(sprintf('%d', \$7)) with labels offset 0,0.7 font ',8' notitle, \
     '' using 1:4 with steps lw 2 lc rgb '#ff7f0e' title "guest's dirty rate"
EOF
gnuplot "$tmp/plot.gp" 2>"$tmp/gp.err" || { echo "plot_timeline: gnuplot failed: $(cat "$tmp/gp.err")" >&2; exit 1; }
[ -s "$out" ] || { echo "plot_timeline: gnuplot wrote nothing to $out" >&2; exit 1; }
exit 0
