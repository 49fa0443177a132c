#!/usr/bin/env python3
"""Turns OUT/results.json into bench/RESULTS.md, the gnuplot data files
(OUT/*.dat) and the plots (bench/plots/*.png).

  report.py OUT/results.json BENCH_DIR [RUN_SECONDS]
"""
import json
import re
import os
import statistics
import subprocess
import sys

KEPT_MARKER = "<!-- Written by hand below this line; bench/lib/report.py keeps it. -->"

TOOLS = ["orchd", "supervisord", "s6", "s6-ready", "runit"]
DIAG = ["orchd-nocg", "floor"]
LABEL = {
    "orchd": "orchd",
    "supervisord": "supervisord",
    "s6": "s6, no readiness fd",
    "s6-ready": "s6, readiness fd",
    "runit": "runit",
    "orchd-nocg": "orchd, no cgroups (diagnostic)",
    "floor": "fork+exec loop (floor)",
}
PEERS = ["supervisord", "s6", "s6-ready", "runit"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mmm(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs)


def f_s(x):
    if x is None:
        return "-"
    if x < 0.001:
        return "%.2f ms" % (x * 1000)
    if x < 1:
        return "%.1f ms" % (x * 1000)
    return "%.2f s" % x


def f_ms(x):
    if x is None:
        return "-"
    return "%.1f ms" % x if x < 100 else "%.0f ms" % x


def f_mmm(t, f=f_s):
    if t is None:
        return "-"
    return "%s (%s - %s)" % (f(t[0]), f(t[1]), f(t[2]))


def f_ratio(t):
    if t is None:
        return "-"
    return "%.2fx (%.2f - %.2f)" % t


def f_mb(kb):
    return "-" if kb is None else ("%.1f MB" % (kb / 1024.0) if kb < 10240 * 100 else "%.0f MB" % (kb / 1024.0))


class R:
    def __init__(self, data):
        self.d = data
        self.runs = [r for r in data.get("host_runs", []) if "error" not in r]
        self.ns = sorted({r["n"] for r in self.runs})

    def vals(self, tool, n, key):
        return [r.get(key) for r in self.runs if r["tool"] == tool and r["n"] == n]

    def stat(self, tool, n, key):
        return mmm(self.vals(tool, n, key))

    def ratio(self, tool, peer, n, key):
        """orchd/peer (or tool/peer) per repetition, then median/min/max."""
        a = {r["rep"]: r.get(key) for r in self.runs if r["tool"] == tool and r["n"] == n}
        b = {r["rep"]: r.get(key) for r in self.runs if r["tool"] == peer and r["n"] == n}
        rs = [a[k] / b[k] for k in a if k in b and a[k] and b[k]]
        return mmm(rs)

    def idle(self, tool, n):
        for r in self.runs:
            if r["tool"] == tool and r["n"] == n and "idle_ctxt" in r:
                return r
        return None

    def restart(self, tool):
        return mmm(self.d.get("restart", {}).get("ms", {}).get(tool, []))

    def restart_ratio(self, tool, peer):
        ms = self.d.get("restart", {}).get("ms", {})
        a, b = ms.get(tool, []), ms.get(peer, [])
        return mmm([x / y for x, y in zip(a, b) if x and y])


def write_dat(r, out):
    files = {}
    for key, name in (("start_s", "start"), ("pss_kb", "pss"), ("rss_kb", "rss"),
                      ("stop_s", "stop")):
        path = os.path.join(out, name + ".dat")
        with open(path, "w") as f:
            f.write("# N, then per tool: median min max (%s)\n# tools: %s\n" % (
                key, " ".join(TOOLS + DIAG)))
            for n in r.ns:
                row = [str(n)]
                for t in TOOLS + DIAG:
                    s = r.stat(t, n, key)
                    row += ["%g" % v for v in s] if s else ["NaN"] * 3
                f.write(" ".join(row) + "\n")
        files[name] = path
    path = os.path.join(out, "restart.dat")
    with open(path, "w") as f:
        f.write("# index label median min max (ms)\n")
        for i, t in enumerate(TOOLS + DIAG):
            s = r.restart(t)
            if s:
                f.write('%d "%s" %g %g %g\n' % (i, {"floor": "floor", "orchd-nocg": "orchd, no cgroups"}.get(t, LABEL[t]),
                                                s[0], s[1], s[2]))
    files["restart"] = path
    return files


def plot(files, plots_dir, r):
    os.makedirs(plots_dir, exist_ok=True)
    tl = TOOLS + DIAG
    styles = {"orchd": "lw 3 lc rgb '#d62728' pt 7", "supervisord": "lc rgb '#1f77b4' pt 5",
              "s6": "lc rgb '#2ca02c' pt 9", "s6-ready": "lc rgb '#98df8a' pt 11 dt 2",
              "runit": "lc rgb '#9467bd' pt 13", "orchd-nocg": "lc rgb '#ff9896' pt 6 dt 3",
              "floor": "lc rgb '#7f7f7f' pt 1 dt 4"}

    def series(datafile, scale, which):
        parts = []
        for t in which:
            c = 2 + 3 * tl.index(t)
            parts.append("'%s' using 1:($%d*%s):($%d*%s):($%d*%s) with yerrorlines %s "
                         "title '%s'" % (datafile, c, scale, c + 1, scale, c + 2, scale,
                                         styles[t], LABEL[t]))
        return ", \\\n  ".join(parts)

    common = ("set terminal pngcairo size 900,560 font 'Sans,10'\n"
              "set logscale x\nset logscale y\nset key top left\nset grid\n"
              "set xtics (10, 100, 1000)\nset xrange [7:1500]\n"
              "set xlabel 'services (N)'\n")
    gp = common
    gp += "set output '%s/start.png'\nset ylabel 'seconds until all N running (median, min-max)'\n" % plots_dir
    gp += "set title 'Start: time until all N sleeping services run'\n"
    gp += "plot " + series(files["start"], "1", tl) + "\n"
    gp += "set output '%s/memory.png'\nset ylabel 'MB (median)'\n" % plots_dir
    gp += "set title 'Supervisor memory: PSS of the supervising processes'\n"
    gp += "plot " + series(files["pss"], "1.0/1024", TOOLS) + "\n"
    gp += "set output '%s/memory-rss.png'\n" % plots_dir
    gp += "set title 'Supervisor memory: RSS summed over the supervising processes'\n"
    gp += "plot " + series(files["rss"], "1.0/1024", TOOLS) + "\n"
    gp += "set output '%s/stop.png'\nset ylabel 'seconds until everything is gone'\n" % plots_dir
    gp += "set title 'Stop-all'\n"
    gp += "plot " + series(files["stop"], "1", TOOLS) + "\n"
    if r.d.get("restart", {}).get("ms"):
        gp += ("unset logscale x\nunset xrange\nset xtics ()\nset logscale y\n"
               "set output '%s/restart.png'\nset title 'Restart after kill -9 (N=%d, %d kills "
               "each): median, min-max'\nset ylabel 'ms'\nset xlabel ''\nset style fill solid 0.5\n"
               "set boxwidth 0.6\nset xrange [-0.6:%d]\nset key off\n"
               "plot '%s' using 1:3:xtic(2) with boxes lc rgb '#1f77b4', "
               "'' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0\n"
               % (plots_dir, r.d["restart"]["n"], r.d["restart"]["rounds"],
                  len(TOOLS) + len(DIAG), files["restart"]))
    gpf = os.path.join(os.path.dirname(files["start"]), "plots.gp")
    with open(gpf, "w") as f:
        f.write(gp)
    p = subprocess.run(["gnuplot", gpf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    return p.returncode == 0, p.stdout


def verdict(ok):
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def main():
    data = json.load(open(sys.argv[1]))
    bench_dir = sys.argv[2]
    run_s = float(sys.argv[3]) if len(sys.argv) > 3 else None
    out = os.path.dirname(os.path.abspath(sys.argv[1]))
    r = R(data)
    files = write_dat(r, out)
    plots_dir = os.path.join(bench_dir, "plots")
    plotted, gp_out = plot(files, plots_dir, r)
    m = data["machine"]
    p = data["params"]
    L = []
    w = L.append

    w("# orchd against supervisord, s6, runit and ctr")
    w("")
    w("Written by `bench/run` from one run (%s to %s%s). Every number below comes from "
      "that run; rerun to refresh. Figures are medians of the repetitions with (min - max); "
      "every ratio is computed per repetition (or per restart round) within the run and then "
      "summarised the same way, because this machine is noisy." % (
          data.get("started"), data.get("finished"),
          ", whole bench/run %.0f s" % run_s if run_s else ""))
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    w("| CPU | %d x %s |" % (m["cpus"], m["cpu_model"]))
    w("| memory | %s GB |" % m["mem_gb"])
    w("| OS, kernel | %s, Linux %s |" % (m["os"], m["kernel"]))
    w("| cgroups | %s; v1 hierarchies: %s |" % (m["cgroups"], ", ".join(m["cgroup_v1_hierarchies"]) or "none"))
    if m.get("work_fs"):
        w("| work dir (configurations, logs, orchd's state dirs) | %s%s |" % (
            m["work_fs"], " (as /run, where root's orchd keeps its state dir)" if m["work_fs"] == "tmpfs"
            else " (BENCH_TMPFS=0 or no tmpfs: file creation depends on the disk's history)"))
    for k, v in m["versions"].items():
        w("| %s | %s |" % (k, v))
    lb, la = data.get("load_before", {}), data.get("load_after", {})
    w("| load average (1/5/15 min) before / after | %s / %s |" % (
        " ".join(lb.get("loadavg", [])), " ".join(la.get("loadavg", []))))
    w("| busiest processes at the start (%%CPU) | %s |" % "; ".join(lb.get("top", [])))
    w("| bench niceness | %s (every tool alike) |" % data.get("nice"))
    w("")
    w("The machine is shared: other jobs ran during the measurement (see the load), "
      "so absolute times are inflated and jumpy; the ratios within the run are the "
      "figures to compare.")
    w("")

    # ---------------------------------------------------------------- targets
    w("## Targets (issue 7)")
    w("")
    w("| target | result | |")
    w("| --- | --- | --- |")
    s100 = {t: r.stat(t, 100, "start_s") for t in TOOLS}
    if s100["orchd"]:
        worse = [t for t in PEERS if s100[t] and r.ratio("orchd", t, 100, "start_s") and
                 r.ratio("orchd", t, 100, "start_s")[0] >= 1]
        w("| orchd starts 100 services faster than every peer | orchd %s; %s | %s |" % (
            f_s(s100["orchd"][0]),
            "; ".join("%s %s (orchd/%s %s)" % (LABEL[t], f_s(s100[t][0]), t,
                                                f_ratio(r.ratio("orchd", t, 100, "start_s")))
                      for t in PEERS if s100[t]),
            verdict(not worse)))
    big = max(r.ns) if r.ns else None
    idle_big = r.idle("orchd", big) if big else None
    if idle_big:
        w("| zero wakeups when idle at %d services | %d context switches, %.0f ms CPU in %.0f s | %s |" % (
            big, idle_big["idle_ctxt"], idle_big["idle_cpu_ms"], idle_big["idle_window_s"],
            verdict(idle_big["idle_ctxt"] == 0)))
    if big:
        o, sv, s6 = (r.stat(t, big, "pss_kb") for t in ("orchd", "supervisord", "s6"))
        if o and sv and s6:
            w("| memory at %d services below supervisord's and s6's total | PSS: orchd %s, "
              "supervisord %s, s6 %s (RSS: orchd %s, supervisord %s) | %s |" % (
                  big, f_mb(o[0]), f_mb(sv[0]), f_mb(s6[0]),
                  f_mb(r.stat("orchd", big, "rss_kb")[0]),
                  f_mb(r.stat("supervisord", big, "rss_kb")[0]),
                  verdict(o[0] < sv[0] and o[0] < s6[0])))
    ro, rs = r.restart("orchd"), r.restart("s6-ready")
    if ro and rs:
        rr = r.restart_ratio("orchd", "s6-ready")
        w("| restart after a crash at least as fast as s6 | orchd %s, s6 with readiness fd %s, "
          "s6 without %s; orchd/s6-ready per round %s | %s |" % (
              f_ms(ro[0]), f_ms(rs[0]), f_ms((r.restart("s6") or [None])[0]), f_ratio(rr),
              verdict(rr[0] <= 1.0)))
    c = data.get("containers", {})
    if c.get("measured"):
        co, cc = mmm(c["one"]["orchd_grow"]), mmm(c["one"]["ctr_run"])
        w("| a container reaches running no slower than `ctr run -d` | orchd %s (daemon "
          "running), ctr %s | %s |" % (f_s(co[0]) if co else "-", f_s(cc[0]),
                                       verdict(co is not None and co[0] <= cc[0])))
    else:
        w("| a container reaches running no slower than `ctr run -d` | not measured: %s | n/a |"
          % c.get("reason", "?").replace("|", "/"))
    w("")
    w("Issue 4's absolute targets for the daemon, same run:")
    w("")
    w("| target | result | |")
    w("| --- | --- | --- |")
    if s100["orchd"]:
        w("| 100 services running in under 0.05 s | %s | %s |" % (
            f_mmm(s100["orchd"]), verdict(s100["orchd"][0] < 0.05)))
    if ro:
        w("| restart with RESTART_DELAY 0s in under 3 ms | %s (floor on this machine: %s) | %s |" % (
            f_mmm(ro, f_ms), f_ms((r.restart("floor") or [None])[0]), verdict(ro[0] < 3)))
    for n in r.ns:
        i = r.idle("orchd", n)
        if i:
            w("| 0 wakeups when idle, N=%d | %d context switches in %.0f s | %s |" % (
                n, i["idle_ctxt"], i["idle_window_s"], verdict(i["idle_ctxt"] == 0)))
    rss100 = r.stat("orchd", 100, "rss_kb")
    if rss100:
        w("| under 3 MB RSS with 100 bare services | %s | %s |" % (
            f_mb(rss100[0]), verdict(rss100[0] < 3 * 1024)))
    st100 = r.stat("orchd", 100, "stop_s")
    if st100:
        w("| stop-all of 100 in under 0.1 s | %s | %s |" % (f_mmm(st100), verdict(st100[0] < 0.1)))
    w("")
    if c.get("measured"):
        one, tw = c["one"], c["twenty"]
        g, cr = mmm(one["orchd_grow"]), mmm(one["ctr_run"])
        gr = mmm([x / y for x, y in zip(one["orchd_grow"], one["ctr_run"]) if x and y])
        fo, fc = mmm(one["orchd_fell"]), mmm(one["ctr_teardown"])
        g20, rss20 = mmm(tw["orchd_grow"]), med(tw["orchd_rss_kb"])
        w("Issue 5's targets for containers, same run:")
        w("")
        w("| target | result | |")
        w("| --- | --- | --- |")
        if g and cr and gr:
            w("| a container running within 0.9x of `ctr run -d` | orchd %s, ctr %s, per "
              "repetition %s | %s |" % (f_s(g[0]), f_s(cr[0]), f_ratio(gr), verdict(gr[0] <= 0.9)))
        if fo and fc:
            w("| teardown no slower than ctr's | orchd %s, ctr %s | %s |" % (
                f_s(fo[0]), f_s(fc[0]), verdict(fo[0] <= fc[0])))
        if g20:
            w("| 20 at once in under 0.7 s | %s | %s |" % (f_mmm(g20), verdict(g20[0] < 0.7)))
        if rss20:
            w("| daemon under 10 MB RSS with 20 running | RSS %s (PSS %s) | %s |" % (
                f_mb(rss20), f_mb(med(tw["orchd_pss_kb"])), verdict(rss20 < 10 * 1024)))
        w("")

    # ---------------------------------------------------------------- host
    w("## Host services")
    w("")
    w("Each service runs `sleep M` with a distinct M, so every service process can be found "
      "in /proc by its command line. Repetitions per N: %s; the tools run one after another "
      "in a rotating order within each repetition. Tools marked *diagnostic* are not peers: "
      "`orchd, no cgroups` is the same orchd started in a private mount namespace whose "
      "/sys/fs/cgroup is an empty tmpfs (so it creates and joins no cgroup per service), and "
      "the `fork+exec loop` is bench/lib/floor.c, which forks and execs the N sleeps in a plain "
      "loop, waiting for each exec as orchd does." % ", ".join(
          "N=%s: %s" % (k, v) for k, v in sorted(p["reps"].items(), key=lambda kv: int(kv[0]))))
    w("")
    if data.get("trimmed"):
        w("**Trimmed to fit the time budget:** " + "; ".join(data["trimmed"]) + ".")
        w("")
    w("### Start: time until all N services are running")
    w("")
    w("Measured from launching the tool until its own status command first reports all N "
      "running (orchd: `orchd grow` returns, which it does only then; the others polled every "
      "10 ms: `supervisorctl status`, `s6-svwait -u` / `-U -a` over all service dirs, "
      "`sv status` over all service dirs). *last fork* is when the last service process was "
      "forked, from /proc/PID/stat (10 ms resolution), which does not depend on how fast a "
      "status command answers.")
    w("")
    for n in r.ns:
        w("**N = %d**" % n)
        w("")
        w("| tool | until status says running | last fork | orchd / tool |")
        w("| --- | --- | --- | --- |")
        for t in TOOLS + DIAG:
            s = r.stat(t, n, "start_s")
            if not s:
                continue
            ratio = "" if t == "orchd" else f_ratio(r.ratio("orchd", t, n, "start_s"))
            w("| %s | %s | %s | %s |" % (LABEL[t], f_mmm(s), f_s((r.stat(t, n, "last_fork_s") or [None])[0]), ratio))
        w("")
    if plotted:
        w("![start time vs N](plots/start.png)")
        w("")

    w("### Memory of the supervising processes")
    w("")
    w("Summed over the orchd daemon; supervisord; s6-svscan + one s6-supervise per service; "
      "runsvdir + one runsv per service (Rss and Pss from /proc/PID/smaps_rollup, 0.3 s after "
      "all were running). RSS counts shared pages once per process, so for s6 and runit "
      "PSS is the meaningful total.")
    w("")
    w("| N | tool | processes | PSS | RSS | threads |")
    w("| --- | --- | --- | --- | --- | --- |")
    for n in r.ns:
        for t in TOOLS + ["orchd-nocg"]:
            s = r.stat(t, n, "pss_kb")
            if not s:
                continue
            w("| %d | %s | %d | %s | %s | %d |" % (
                n, LABEL[t], med(r.vals(t, n, "supervisor_procs")), f_mb(s[0]),
                f_mb(r.stat(t, n, "rss_kb")[0]), med(r.vals(t, n, "threads"))))
    w("")
    if plotted:
        w("![PSS vs N](plots/memory.png)")
        w("")
        w("RSS: [plots/memory-rss.png](plots/memory-rss.png)")
        w("")

    w("### Idle cost over %.0f s" % p["idle_s"])
    w("")
    w("Context switches (voluntary + nonvoluntary, every thread, /proc/PID/task/*/status) and "
      "CPU time (utime + stime, /proc/PID/stat) summed over the supervising processes, "
      "starting 1.3 s after all services were running, nothing else happening.")
    w("")
    w("| N | " + " | ".join(LABEL[t] for t in TOOLS) + " |")
    w("| --- |" + " --- |" * len(TOOLS))
    for n in r.ns:
        cells = []
        for t in TOOLS:
            i = r.idle(t, n)
            cells.append("%d cs, %.0f ms" % (i["idle_ctxt"], i["idle_cpu_ms"]) if i else "-")
        w("| %d | %s |" % (n, " | ".join(cells)))
    w("")

    w("### Restart latency after kill -9")
    w("")
    rp = data.get("restart", {})
    if rp.get("ms"):
        if rp.get("method") == "ktrace":
            how = ("the time from the kill to the exec of the new `sleep` of the same service "
                   "was taken from the kernel's own timestamps: a private tracefs instance "
                   "recorded the SIGKILL (signal:signal_generate) and the exec "
                   "(sched:sched_process_exec), and the bench read that buffer after each kill "
                   "(bench/lib/ktrace.py). Earlier runs spun on /proc/PARENT/task/*/children "
                   "instead: on two cores the spinner took one, and its reads of a new child's "
                   "command line go, for orchd's CLONE_VM children, through the daemon's own "
                   "address space while the child is still in it")
        else:
            how = ("the time until a new child of the same supervising process ran the "
                   "service's `sleep` was taken by spinning on /proc/PARENT/task/*/children, "
                   "reading the command line only of children that were not there before the "
                   "kill (no tracefs here for the kernel's own timestamps)")
        w("All tools ran N=%d services at the same time; in each of %d rounds one "
          "service of every tool was killed with SIGKILL in turn (a different service each "
          "round, each up for more than a second), and %s. Restart delay zero everywhere: "
          "orchd `RESTART always`, "
          "`RESTART_DELAY 0s`; supervisord `autorestart=true`, `startsecs=0`; s6 and runit "
          "have no delay of their own except their one-second throttle for services that die "
          "within a second of starting, which these do not. *floor* is floor.c respawning one "
          "sleep in a tight fork/exec/waitpid loop: what this machine allows." % (
              rp["n"], rp["rounds"], how))
        w("")
        w("| tool | median | min | max | orchd / tool, per round |")
        w("| --- | --- | --- | --- | --- |")
        for t in TOOLS + DIAG:
            s = r.restart(t)
            if not s:
                continue
            missing = sum(1 for x in rp["ms"].get(t, []) if x is None)
            w("| %s | %s | %s | %s | %s |" % (
                LABEL[t] + (" (%d lost)" % missing if missing else ""), f_ms(s[0]), f_ms(s[1]),
                f_ms(s[2]), "" if t == "orchd" else f_ratio(r.restart_ratio("orchd", t))))
        w("")
        if plotted:
            w("![restart latency](plots/restart.png)")
            w("")
    else:
        w("Not measured (see errors below).")
        w("")

    w("### Stop-all")
    w("")
    w("From the stop command until every supervising process and every service process is "
      "gone (zombies count as gone): `orchd fell`; `supervisorctl stop all` then "
      "`supervisorctl shutdown`; `s6-svscanctl -t`; SIGHUP to runsvdir (it sends TERM to "
      "every runsv, which stops its service and exits).")
    w("")
    w("| N | " + " | ".join(LABEL[t] for t in TOOLS) + " |")
    w("| --- |" + " --- |" * len(TOOLS))
    for n in r.ns:
        w("| %d | %s |" % (n, " | ".join(f_mmm(r.stat(t, n, "stop_s")) for t in TOOLS)))
    w("")

    # ---------------------------------------------------------------- containers
    w("## Containers")
    w("")
    if c.get("measured"):
        one, tw = c["one"], c["twenty"]
        w("Private containerd (scripts/containerd-start.sh, snapshotter %s), test image "
          "from scripts/build-test-image.sh imported into one namespace for ctr and one for "
          "orchd; every container runs `sh -c 'trap \"exit 0\" TERM; sleep 100000 & wait'` "
          "(a shell as PID 1 that exits on SIGTERM: a bare `sleep` as PID 1 ignores SIGTERM, "
          "so a graceful stop would wait out the stop timeout). Both sides stop with SIGTERM." %
          c.get("snapshotter"))
        w("")
        w("| | orchd | ctr | orchd / ctr |")
        w("| --- | --- | --- | --- |")

        def row(label, a, b):
            ma, mb = mmm(a), mmm(b)
            rt = mmm([x / y for x, y in zip(a, b) if x and y])
            w("| %s | %s | %s | %s |" % (label, f_mmm(ma), f_mmm(mb), f_ratio(rt)))
        row("one container to running (orchd: `grow c0`, daemon already running; ctr: `run -d`)",
            one["orchd_grow"], one["ctr_run"])
        row("one container to running, orchd cold (grow starts the daemon, loads the module)",
            one["orchd_grow_cold"], one["ctr_run"])
        row("teardown of one (orchd: `fell c0`; ctr: `tasks kill` (SIGTERM), `tasks rm` "
            "retried until stopped, `containers rm`)",
            one["orchd_fell"], one["ctr_teardown"])
        row("20 at once to running (orchd: one `grow` of 20; ctr: 20 concurrent `run -d`)",
            tw["orchd_grow"], tw["ctr_run"])
        row("20 to running, ctr one after another (reference)", tw["orchd_grow"], tw["ctr_run_seq"])
        row("teardown of 20 (orchd: one `fell`; ctr: 20 concurrent teardowns)",
            tw["orchd_fell"], tw["ctr_teardown"])
        w("")
        w("orchd daemon with 20 containers running: RSS %s, PSS %s, %s threads." % (
            f_mb(med(tw["orchd_rss_kb"])), f_mb(med(tw["orchd_pss_kb"])),
            med(tw["orchd_threads"])))
    else:
        w("**Not measured in this run**: %s" % c.get("reason", "?"))
        w("")
        w("The container part runs by itself once the pieces exist: `orchd-containerd.so` "
          "next to the orchd binary with a working container lifecycle, "
          "scripts/containerd-start.sh, scripts/containerd-stop.sh, "
          "scripts/build-test-image.sh, and containerd/ctr/runc (bench/run installs those). "
          "It then measures, against `ctr` on the same private containerd and image: one "
          "container to running (orchd daemon already running, and cold), its teardown, "
          "20 at once and their teardown, and the daemon's RSS with 20 running.")
    w("")

    # ---------------------------------------------------------------- analysis
    # ---------------------------------------------------------------- scale
    sc = data.get("scale") or {}
    if sc.get("measured") and sc.get("rows"):
        rows = {int(k): v for k, v in sc["rows"].items() if v}
        nsc = sorted(rows)
        ops = (("grow_s", "grow (all running)"), ("survey_s", "survey"),
               ("restart_s", "one restart after kill -9"),
               ("reload_one_s", "reload of one changed service (grow)"),
               ("fell_s", "fell (all stopped, daemon gone)"))
        w("## Scale: orchd alone at %s services (issue 15)" % " and ".join(
            "{:,}".format(n) for n in nsc))
        w("")
        lim = sc.get("limits", {})
        w("Bare `sleep` services, one fresh state directory per repetition (repetitions: %s). "
          "For 10,000 services the run raised kernel.pid_max to %s (it was %s; restored "
          "after) and the bench's RLIMIT_NOFILE to %s, which orchd inherits. Medians (min - "
          "max); the last column is the largest N's median over the smallest N's, against "
          "the target of at most %dx (linear: %dx). The restart is timed from the kill -9 "
          "until a process forked after it (pids above /proc/sys/kernel/ns_last_pid at the "
          "kill) is the daemon's child running the service's command, so the poll costs the "
          "same at every N. Each operation starts once the kernel has settled (no dying cgroups, "
          "at most 2 runnable tasks), as every other measurement here does." % (
              ", ".join("N=%d: %d" % (n, len(rows[n])) for n in nsc), lim.get("pid_max", "?"),
              sc.get("limits_before", {}).get("pid_max", "?"), lim.get("nofile", "?"),
              int(round(1.1 * nsc[-1] / nsc[0])), nsc[-1] // nsc[0]))
        w("")
        w("| operation | %s | ratio | |" % " | ".join("N=%d" % n for n in nsc))
        w("| --- | %s | --- | --- |" % " | ".join("---" for _ in nsc))
        dat = os.path.join(out, "scale.dat")
        with open(dat, "w") as f:
            f.write("# N, then per operation median min max (s): %s\n" % " ".join(k for k, _ in ops))
            for n in nsc:
                row = [str(n)]
                for k, _ in ops:
                    mm = mmm([x[k] for x in rows[n] if x.get(k) is not None])
                    row += ["%g" % v for v in mm] if mm else ["NaN"] * 3
                f.write(" ".join(row) + "\n")
        limit = 1.1 * nsc[-1] / nsc[0]
        for k, label in ops:
            ms = [mmm([x[k] for x in rows[n] if x.get(k) is not None]) for n in nsc]
            ratio = ms[-1][0] / ms[0][0] if ms[0] and ms[-1] and ms[0][0] else None
            w("| %s | %s | %s | %s |" % (label, " | ".join(f_mmm(m) if m else "-" for m in ms),
                                         "%.1fx" % ratio if ratio else "-",
                                         verdict(ratio <= limit) if ratio else "n/a"))
        for n in nsc:
            ctx = [x.get("idle_ctxt") for x in rows[n] if x.get("idle_ctxt") is not None]
            if ctx:
                w("| idle: context switches of the daemon in %.0f s, N=%d | %s | | %s |" % (
                    float(os.environ.get("BENCH_SCALE_IDLE", "5")), n, max(ctx),
                    verdict(max(ctx) == 0)))
        w("")
        gp = ("set terminal pngcairo size 900,560 font 'Sans,10'\nset logscale x\n"
              "set logscale y\nset key top left\nset grid\nset xrange [700:14000]\n"
              "set xtics (1000, 10000)\nset xlabel 'services (N)'\n"
              "set ylabel 'seconds (median, min-max)'\n"
              "set title 'orchd alone: cost of each operation vs N (dotted: linear from N=%d)'\n"
              "set output '%s/scale.png'\nplot " % (nsc[0], plots_dir))
        parts = []
        for i, (k, label) in enumerate(ops):
            col = 2 + 3 * i
            parts.append("'%s' using 1:%d:%d:%d with yerrorlines title '%s'" % (
                dat, col, col + 1, col + 2, label))
            m0 = mmm([x[k] for x in rows[nsc[0]] if x.get(k) is not None])
            if m0:
                parts.append("(x >= %d ? %g * x / %d : 1/0) with lines dt 3 lc %d notitle" % (
                    nsc[0], m0[0], nsc[0], i + 1))
        gp += ", \\\n  ".join(parts) + "\n"
        gpf = os.path.join(out, "scale.gp")
        with open(gpf, "w") as f:
            f.write(gp)
        ok = subprocess.run(["gnuplot", gpf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
        if ok.returncode == 0:
            w("![cost vs N](plots/scale.png)")
        else:
            w("gnuplot failed for the scale plot: " + ok.stdout.strip()[-200:])
        w("")
    elif sc:
        w("## Scale (issue 15)")
        w("")
        w("Not measured: %s" % sc.get("reason", "?"))
        w("")
    w("## Where orchd loses, and where its time goes")
    w("")
    losses = []
    for n in r.ns:
        for key, what in (("start_s", "start"), ("stop_s", "stop-all"), ("pss_kb", "memory (PSS)")):
            o = r.stat("orchd", n, key)
            for t in PEERS:
                pt = r.stat(t, n, key)
                if o and pt and o[0] > pt[0]:
                    rt = r.ratio("orchd", t, n, key)
                    losses.append("%s at N=%d against %s: %s vs %s (orchd/%s per repetition %s)"
                                  % (what, n, LABEL[t], (f_mb if key == "pss_kb" else f_s)(o[0]),
                                     (f_mb if key == "pss_kb" else f_s)(pt[0]), t, f_ratio(rt)))
        i = r.idle("orchd", n)
        for t in PEERS:
            j = r.idle(t, n)
            if i and j and i["idle_ctxt"] > j["idle_ctxt"]:
                losses.append("idle wakeups at N=%d against %s: %d vs %d" % (
                    n, LABEL[t], i["idle_ctxt"], j["idle_ctxt"]))
    ro = r.restart("orchd")
    for t in PEERS:
        pt = r.restart(t)
        if ro and pt and ro[0] > pt[0]:
            losses.append("restart latency against %s: %s vs %s (orchd/%s per round %s)" % (
                LABEL[t], f_ms(ro[0]), f_ms(pt[0]), t, f_ratio(r.restart_ratio("orchd", t))))
    if c.get("measured"):
        for key, label in (("orchd_grow", "ctr_run"), ("orchd_fell", "ctr_teardown")):
            a, b = mmm(c["one"][key]), mmm(c["one"][label])
            if a and b and a[0] > b[0]:
                losses.append("containers, %s: orchd %s vs ctr %s" % (key, f_s(a[0]), f_s(b[0])))
        a, b = mmm(c["twenty"]["orchd_grow"]), mmm(c["twenty"]["ctr_run"])
        if a and b and a[0] > b[0]:
            losses.append("containers, 20 at once: orchd %s vs ctr %s" % (f_s(a[0]), f_s(b[0])))
    w("Medians where orchd is behind a peer in this run:")
    w("")
    for x in losses or ["none"]:
        w("- " + x)
    w("")
    w("Start, in detail:")
    w("")
    for n in r.ns:
        o, nc, fl = (r.stat(t, n, "start_s") for t in ("orchd", "orchd-nocg", "floor"))
        cpu = med(r.vals("orchd", n, "daemon_cpu_ms"))
        usr = med(r.vals("orchd", n, "daemon_user_ms"))
        sys_ = med(r.vals("orchd", n, "daemon_sys_ms"))
        if o and nc and fl:
            w("- N=%d: orchd %s, the same orchd without cgroups %s, the bare fork+exec "
              "loop %s; orchd/no-cgroups per repetition %s. The daemon used %s of CPU for "
              "the whole start (%s user, %s system: fork, page faults after fork, mkdir, "
              "open), so most of the start is spent waiting for children, not computing." % (
                  n, f_s(o[0]), f_s(nc[0]), f_s(fl[0]),
                  f_ratio(r.ratio("orchd", "orchd-nocg", n, "start_s")),
                  ("< 10 ms" if cpu == 0 else f_ms(cpu)) if cpu is not None else "-",
                  ("< 10 ms" if usr == 0 else f_ms(usr)) if usr is not None else "-",
                  ("< 10 ms" if sys_ == 0 else f_ms(sys_)) if sys_ is not None else "-"))
            busy = med(r.vals("orchd", n, "busy_ms"))
            rbusy = med(r.vals("runit", n, "busy_ms"))
            ncpu = os.cpu_count() or 1
            if busy and cpu is not None and rbusy:
                share = ("under one clock tick" if cpu == 0 else "%.0f%%" % (100.0 * cpu / busy))
                w("  All %d CPUs together were busy for %s during orchd's start (%.0f%% of "
                  "the %s they had), the daemon's own share %s; the rest is the "
                  "services' exec and start-up and the kernel's work for them. A start of a "
                  "daemon that cost nothing would still have kept them busy for %s; runit's "
                  "start of the same services kept them busy for %s." % (
                      ncpu, f_ms(busy), 100.0 * busy / (ncpu * o[0] * 1000.0),
                      f_ms(ncpu * o[0] * 1000.0), share, f_ms(busy - cpu),
                      f_ms(rbusy)))
    w("")
    pr = data.get("profile")
    if pr and pr.get("by_category"):
        w("`orchd daemon` under `strace -f --seccomp-bpf -ttt -T -y` (traced: %s), one "
          "`orchd grow` of %d services: %s under strace. Children spent %s in total between "
          "fork and their execve of /bin/sh, which the daemon waits for, one child at a time. "
          "Time inside the traced syscalls, by who and what (strace inflates every figure; "
          "the shares are what matters):" % (
              "read, write, mkdir, openat, execve, clone, rmdir, wait4, epoll_wait", pr["n"],
              f_s(pr.get("grow_s_under_strace")), f_s(pr.get("child_fork_to_exec_s"))))
        w("")
        w("| process | syscall | seconds | calls | per service |")
        w("| --- | --- | --- | --- | --- |")
        for cat in pr["by_category"]:
            w("| %s | %s | %.3f | %d | %.2f ms |" % (
                cat["who"], cat["what"], cat["seconds"], cat["calls"],
                cat["seconds"] * 1000.0 / max(1, pr["n"])))
        w("")
    hs = (pr or {}).get("cgroup_hierarchies") or sorted(
        {re.search(r"\((\w+)\)", c["what"]).group(1) for c in (pr or {}).get("by_category", [])
         if c["what"].startswith("write cgroup.procs")})
    w("""What the figures show (functions as of this run's tree; issue 15):

1. **Cgroups.** A service has one tracking cgroup (cgroup2 where mounted, here %s) and
   its process is created inside it with `clone3(CLONE_INTO_CGROUP)`
   (runtimes/bare/spawn.c): nothing is migrated. Left: the `mkdir` per first start and
   the `rmdir` per release (tens of microseconds each, with rare multi-millisecond
   outliers when the cgroup core waits for RCU).
2. **No wait for exec, no copy of the daemon.** `bare_start` returns right after the
   clone; the exec report pipe is watched on the loop (at most 128 outstanding: every fd
   the daemon holds is copied into each child's fd table). The child is a
   `clone3(CLONE_VM)` on a stack of its own in orchd's memory, making only raw syscalls
   on a private copy of its options: no page-table copy, no copy-on-write faults (with
   fork those were about half of the daemon's time per start; `ORCH_SPAWN_FORK=1`
   brings fork back for comparison).
3. **No shell for plain RUN lines.** A line the shell would only split and exec
   (`exec sleep M`) is exec'd directly (runtimes/bare/simple_command.c), with /bin/sh -c
   as the fallback when that exec fails: one exec and one dynamic load (whose CPU
   feature probing is slow under this hypervisor) less per start. The floor rows still
   go through /bin/sh, as s6 and runit do.
4. **What is left** is mostly the kernel: creating two files per first start on ext4 (the
   service's log and its run record; the inode allocator's `find_inode_bit` /
   `recently_deleted` scan grows when many files were just deleted), the cgroup `mkdir`,
   and the clone itself.""" % (", ".join(hs) or "see the profile"))
    w("")
    prr = data.get("profile_restart") or []
    if prr:
        w("Five restarts of orchd under `strace -f -ttt -T` (daemon attached, the new children "
          "followed): time from the daemon reaping the killed process to the new child's "
          "execve of /bin/sh, and the two slowest traced syscalls in between:")
        w("")
        w("| restart | reap to exec | slowest | next |")
        w("| --- | --- | --- | --- |")
        for k, x in enumerate(prr):
            sl = x["slowest"] + [{"ms": 0, "what": "-"}] * 2
            w("| %d | %.1f ms | %s: %.1f ms | %s: %.2f ms |" % (
                k + 1, x["reap_to_exec_ms"], sl[0]["what"], sl[0]["ms"], sl[1]["what"],
                sl[1]["ms"]))
        w("")
    rn = r.restart("orchd-nocg")
    w("Restarts take the same path: on the child's death the daemon removes the service's "
      "cgroup, creates it again and clones the new child straight into it "
      "(runtimes/bare/bare.c `bare_start` -> runtimes/bare/cgroup.c `orch_cgroup_prepare` -> "
      "runtimes/bare/spawn.c `orch_spawn_begin`, `clone3(CLONE_VM | CLONE_INTO_CGROUP)`). "
      "In the restart phase "
      "orchd took %s, the same orchd without cgroups %s (orchd / no-cgroups per round %s), "
      "s6 with a readiness fd %s, the floor %s (the floor execs /bin/sh, which execs sleep; "
      "orchd execs sleep directly)." % (
          f_ms(ro[0]) if ro else "-", f_ms(rn[0]) if rn else "-",
          f_ratio(r.restart_ratio("orchd", "orchd-nocg")),
          f_ms((r.restart("s6-ready") or [None])[0]), f_ms((r.restart("floor") or [None])[0])))
    w("")

    # ---------------------------------------------------------------- how
    w("## How it was run")
    w("")
    w("```sh\nsudo bench/run            # as root; installs the peers, builds orchd (Release), "
      "measures, writes this file\n```")
    w("")
    w("bench/run installs with apt-get (with a policy-rc.d that refuses every service start, "
      "so Debian's supervisor package cannot start the system supervisord): supervisor, s6, "
      "runit, gnuplot-nox, procps, strace, util-linux, gcc, and for the container part "
      "containerd, runc, busybox-static. It builds orchd with "
      "`cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DORCH_WERROR=OFF && cmake "
      "--build build-bench -j2 --target orchd orchd-containerd`, compiles bench/lib/floor.c, "
      "then runs bench/lib/bench.py (measurements, raw data in bench/out/results.json) and "
      "bench/lib/report.py (this file, bench/plots/). Every run lives in a temp dir "
      "(/tmp/orchd-bench.*), nothing touches /etc/service or the system supervisor's "
      "configuration, and an EXIT/INT/TERM trap kills whatever the run started (processes "
      "whose command line or cwd lies in the temp dir, and the marked sleeps) and removes "
      "orchd's cgroups of the run's own namespace.")
    w("")
    w("Per tool, for N services `s0..s{N-1}` each running `sleep M+i`:")
    w("")
    w("| tool | configuration | start | status | stop |")
    w("| --- | --- | --- | --- | --- |")
    w("| orchd | Orchfile: `SERVICE si` / `RUN exec sleep M+i` / `RESTART always` / "
      "`RESTART_DELAY 0s` / `START_LIMIT_BURST 0`; default logs | `ORCH_STATE_DIR=D/state "
      "ORCH_NAMESPACE=benchPID orchd grow -f D/Orchfile` (starts the daemon) | `grow` returns; "
      "`orchd survey --json` checked after | `orchd fell -f D/Orchfile` |")
    w("| supervisord | one `[program:si]` each: `command=sleep M+i`, `autostart=true`, "
      "`autorestart=true`, `startsecs=0`, `stdout_logfile=D/logs/si.log`, "
      "`redirect_stderr=true`; unix socket in D | `supervisord -c D/supervisord.conf` "
      "(nodaemon) | `supervisorctl -c ... status`, all RUNNING | `supervisorctl stop all`, "
      "`supervisorctl shutdown` |")
    w("| s6 | `D/scan/si/run`: `#!/bin/sh` / `exec sleep M+i` | `s6-svscan -c MAX D/scan` | "
      "`s6-svwait -u -a -t 60000 D/scan/*` | `s6-svscanctl -t D/scan` |")
    w("| s6, readiness fd | as s6, plus `notification-fd` = 3 and run: `echo >&3` / "
      "`exec sleep M+i 3>&-` | same | `s6-svwait -U -a ...` (up and ready) | same |")
    w("| runit | `D/scan/si/run`: `#!/bin/sh` / `exec sleep M+i` | `runsvdir -P D/scan` | "
      "`sv status D/scan/*`, all `run:` | SIGHUP to runsvdir |")
    w("")
    w("Notes:")
    w("")
    w("- The Orchfile says `exec sleep`, like the s6 and runit run scripts. orchd execs such "
      "a plain line directly (no shell; docs/RUNTIME-BARE.md), as supervisord execs "
      "`sleep` directly; s6, runit and the floor rows go through /bin/sh.")
    w("- Every configuration directory is back-dated by an hour before the start: runsvdir "
      "ignores a service directory changed within the current second and looks again a "
      "second later, which is an artefact of creating it just before (a real /etc/service "
      "is old).")
    w("- supervisord: a bare `supervisorctl shutdown` stops one program group per main-loop "
      "pass (each `[program:x]` is its own group); in a trial run that took 28.7 s for 100 "
      "services, hence `stop all` first.")
    w("- runit: runsvdir sometimes acts on SIGHUP only after its one-second poll timeout "
      "(the signal can arrive just before it blocks), which shows as 1 s maxima in its stop "
      "column.")
    w("- s6 without a readiness fd, and supervisord, restart after about one second: "
      "s6-supervise waits a second before respawning a service that never reported ready, "
      "supervisord acts on the death in its next one-second tick.")
    w("- Restart and start figures include the machine's own fork/exec cost; the floor rows "
      "show it.")
    if data.get("errors"):
        w("- Errors during the run: " + "; ".join(data["errors"]))
    if not plotted:
        w("- gnuplot failed: " + gp_out.strip()[-300:])
    w("")
    w("Raw data: bench/out/results.json (not committed), bench/out/bench.log.")
    w("")
    # Sections measured by other scripts (bench/vm.sh, one-off profiles)
    # live below this marker, by hand: kept as they are.
    out = os.path.join(bench_dir, "RESULTS.md")
    kept = ""
    try:
        old = open(out).read()
        at = old.find(KEPT_MARKER)
        if at >= 0:
            kept = "\n" + old[at:]
    except OSError:
        pass
    with open(out, "w") as f:
        f.write("\n".join(L) + kept)
    print("wrote %s" % out)


if __name__ == "__main__":
    main()
