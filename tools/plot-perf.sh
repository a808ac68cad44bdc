#!/bin/sh
# plot-perf.sh - plots from crew-perf's CSV output, with gnuplot.
#
#   crew-perf --suite full --format csv > results.csv
#   tools/plot-perf.sh results.csv plots/
#
# Writes, each as PNG (pngcairo, or png where gnuplot lacks cairo) and SVG:
#   ns_per_task_w<N>  ns per task by benchmark and implementation at N
#                     workers (log scale; serial, run once, shown at every N)
#   speedup_<bench>   speedup against workers per implementation: median at
#                     1 worker (else the fewest measured) / median at N
#   cancel            crew's cancellation rows: ns per operation by workers
set -eu

usage() {
    echo "usage: $0 results.csv outdir/" >&2
    exit 2
}
[ $# -eq 2 ] || usage
csv=$1
out=${2%/}
[ -n "$out" ] || out=/
[ -r "$csv" ] || { echo "plot-perf.sh: cannot read $csv" >&2; exit 1; }
command -v gnuplot >/dev/null 2>&1 || {
    echo "plot-perf.sh: gnuplot not found (Debian: apt-get install gnuplot-nox)" >&2
    exit 1
}
header='bench,impl,workers,param,reps,median_s,min_s,max_s,tasks,ns_per_task'
if [ "$(head -n 1 "$csv" | tr -d '\r')" != "$header" ]; then
    echo "plot-perf.sh: $csv is not crew-perf CSV (header: $header)" >&2
    exit 1
fi
mkdir -p "$out"

if gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo; then
    png='pngcairo noenhanced size 1000,600 font ",10"'
else
    png='png noenhanced size 1000,600'
fi
svg='svg noenhanced size 1000,600 dynamic font ",10"'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# ---- data files (awk) -------------------------------------------------------
# ns_w<N>.dat   bench crew serial omp tbb pool    ("-": missing)
# sp_<b>.dat    workers <impls...>                (speedups)
# cancel.dat    bench w<N>...                     (ns per operation)
awk -F, -v dir="$tmp" '
NR == 1 { next }
{
    sub(/\r$/, "")
    b = $1; i = $2; w = $3 + 0
    if (!(b in seenb)) { seenb[b] = 1; benches[++nb] = b }
    if (!(w in seenw)) { seenw[w] = 1; ws[++nw] = w }
    if (!(i in seeni)) seeni[i] = 1
    med[b, i, w] = $6
    ns[b, i, w] = $10
    has[b, i] = 1
    if (!((b, i) in wmin) || w < wmin[b, i]) wmin[b, i] = w
    nwb[b] += (i == "crew")
}
END {
    # worker counts ascending
    for (x = 1; x <= nw; x++)
        for (y = x + 1; y <= nw; y++)
            if (ws[y] < ws[x]) { t = ws[x]; ws[x] = ws[y]; ws[y] = t }
    split("crew serial omp tbb pool", order, " ")
    ni = 0
    for (k = 1; k <= 5; k++)
        if (order[k] in seeni) impls[++ni] = order[k]

    # ns per task, one file per worker count (not idle, not cancel_*)
    for (x = 1; x <= nw; x++) {
        w = ws[x]; f = dir "/ns_w" w ".dat"; rows = 0
        line = "bench"
        for (k = 1; k <= ni; k++) line = line " " impls[k]
        print line > f
        for (n = 1; n <= nb; n++) {
            b = benches[n]
            if (b ~ /^cancel_/ || b == "idle") continue
            line = b; any = 0
            for (k = 1; k <= ni; k++) {
                i = impls[k]; ww = (i == "serial") ? 1 : w
                v = ns[b, i, ww]
                if (v == "") v = "-"; else any = 1
                line = line " " v
            }
            if (any) { print line > f; rows++ }
        }
        close(f)
        if (rows) print "ns " w > (dir "/list")
    }

    # speedup per bench: median(fewest workers) / median(w)
    for (n = 1; n <= nb; n++) {
        b = benches[n]
        if (b ~ /^cancel_/ || b == "idle" || nwb[b] < 2) continue
        f = dir "/sp_" b ".dat"
        line = "workers"
        for (k = 1; k <= ni; k++)
            if (impls[k] != "serial" && has[b, impls[k]]) line = line " " impls[k]
        print line > f
        for (x = 1; x <= nw; x++) {
            w = ws[x]; line = w
            for (k = 1; k <= ni; k++) {
                i = impls[k]
                if (i == "serial" || !has[b, i]) continue
                base = med[b, i, wmin[b, i]]; v = med[b, i, w]
                line = line " " ((v == "" || v + 0 <= 0) ? "-" : sprintf("%.4f", base / v))
            }
            print line > f
        }
        close(f)
        print "sp " b > (dir "/list")
    }

    # cancellation rows
    f = dir "/cancel.dat"; line = "bench"; rows = 0
    for (x = 1; x <= nw; x++) line = line " w" ws[x]
    print line > f
    for (n = 1; n <= nb; n++) {
        b = benches[n]
        if (b !~ /^cancel_/) continue
        line = b
        for (x = 1; x <= nw; x++) {
            v = ns[b, "crew", ws[x]]
            line = line " " (v == "" ? "-" : v)
        }
        print line > f; rows++
    }
    close(f)
    if (rows) print "cancel" > (dir "/list")
    print ws[nw] > (dir "/maxw")
}' "$csv"

[ -s "$tmp/list" ] || { echo "plot-perf.sh: nothing to plot in $csv" >&2; exit 1; }
maxw=$(cat "$tmp/maxw")
xtics=''
[ "$maxw" -le 16 ] && xtics='set xtics 1'


# render NAME: run the gnuplot commands on stdin once per output format.
render() {
    cat > "$tmp/plot.gp"
    for fmt in png svg; do
        if [ "$fmt" = png ]; then term=$png; else term=$svg; fi
        gnuplot -e "set terminal $term; set output '$out/$1.$fmt'" "$tmp/plot.gp"
    done
    echo "$out/$1.png $out/$1.svg"
}

common='set datafile missing "-"; set grid ytics; set key outside right top;
set style fill solid 0.85 border -1; set style data histograms;
set style histogram clustered gap 1; set xtics rotate by -25 nomirror'

while read -r kind arg; do
    case $kind in
    ns)
        ncol=$(head -n 1 "$tmp/ns_w$arg.dat" | wc -w)
        render "ns_per_task_w$arg" <<EOF
$common
set title "ns per task by implementation, $arg worker(s) (log scale; lower is better)"
set ylabel "ns per task (median)"
set logscale y; set yrange [0.1:*]  # room below 1 ns
plot for [c=2:$ncol] "$tmp/ns_w$arg.dat" using c:xtic(1) title columnheader(c)
EOF
        ;;
    sp)
        ncol=$(head -n 1 "$tmp/sp_$arg.dat" | wc -w)
        render "speedup_$arg" <<EOF
set datafile missing "-"; set grid; set key left top
set title "$arg: speedup against workers (same implementation at the fewest workers)"
set xlabel "workers"; set ylabel "speedup"
set xrange [0.5:$maxw + 0.5]; set yrange [0:*]; $xtics
plot for [c=2:$ncol] "$tmp/sp_$arg.dat" using 1:c with linespoints lw 2 pt 7 title columnheader(c), \
     x with lines dt 2 lc "gray" title "ideal"
EOF
        ;;
    cancel)
        ncol=$(head -n 1 "$tmp/cancel.dat" | wc -w)
        render cancel <<EOF
$common
set title "crew cancellation: ns per check / per cancel / latency (log scale)"
set ylabel "ns (median)"
set logscale y; set yrange [0.1:*]  # room below 1 ns
plot for [c=2:$ncol] "$tmp/cancel.dat" using c:xtic(1) title columnheader(c)
EOF
        ;;
    esac
done < "$tmp/list"
