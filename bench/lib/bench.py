#!/usr/bin/env python3
"""Driver of bench/run: measures orchd against supervisord, s6 and runit
(host services) and against ctr (containers), writes OUT/results.json.
bench/lib/report.py turns that into bench/RESULTS.md and the plots.

  bench.py --orchd BUILD/orchd --floor OUT/floor --out OUT --work TMPDIR
  bench.py --cleanup TMPDIR      kill whatever a run under TMPDIR left

Environment (all optional):
  BENCH_NS=10,100,1000         service counts
  BENCH_REPS=10:5,100:5,1000:3 repetitions per N (start, memory, stop)
  BENCH_IDLE=10                idle window, seconds
  BENCH_RESTARTS=20            kills per tool in the restart phase
  BENCH_RESTART_N=100          services per tool in the restart phase
  BENCH_PROFILE_N=1000         services in the strace profile (0: none)
  BENCH_DEADLINE=<epoch s>     finish by then: repetitions of the largest N
                               are dropped first (RESULTS.md says so)
  BENCH_CONTAINERS=0           skip the container part
  BENCH_SCALE_NS=1000,10000    orchd alone at these N (scale.py); empty: none
  BENCH_SCALE_REPS=1000:3,10000:3  its repetitions (the largest N first
                               loses repetitions to the deadline)
  BENCH_SCALE_IDLE=5           its idle window, seconds
"""
import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import containers  # noqa: E402
import hostbench  # noqa: E402
import ktrace  # noqa: E402
import procfs  # noqa: E402
import scale  # noqa: E402
import profile as orchprofile  # noqa: E402
import tools  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST_TOOLS = ["orchd", "supervisord", "s6", "s6-ready", "runit"]
DIAG_TOOLS = ["orchd-nocg", "floor"]


def env_list(name, default):
    return [int(x) for x in os.environ.get(name, default).split(",") if x]


def env_reps(default):
    out = {}
    for part in os.environ.get("BENCH_REPS", default).split(","):
        n, r = part.split(":")
        out[int(n)] = int(r)
    return out


def cmd_out(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=20)
        return r.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def dpkg_version(pkg):
    return cmd_out(["dpkg-query", "-W", "-f=${Version}", pkg])


def fs_type(path):
    """The filesystem type of the mount holding path (/proc/self/mounts)."""
    best, kind = "", "?"
    real = os.path.realpath(path)
    for line in (procfs.read("/proc/self/mounts") or "").splitlines():
        f = line.split()
        if len(f) > 2 and (real == f[1] or real.startswith(f[1].rstrip("/") + "/")) \
                and len(f[1]) >= len(best):
            best, kind = f[1], f[2]
    return kind


def machine_info(orchd):
    cpu = ""
    for line in (procfs.read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in (procfs.read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    osrel = {}
    for line in (procfs.read("/etc/os-release") or "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            osrel[k] = v.strip('"')
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        cg = "cgroup v2 (unified)"
    elif os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"):
        cg = "hybrid: cgroup v1 controllers + cgroup2 at /sys/fs/cgroup/unified"
    else:
        cg = "cgroup v1"
    v1 = sorted(d for d in os.listdir("/sys/fs/cgroup")
                if os.path.exists("/sys/fs/cgroup/%s/cgroup.procs" % d) and d != "unified") \
        if os.path.isdir("/sys/fs/cgroup") else []
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "mem_gb": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "os": osrel.get("PRETTY_NAME", "?"),
        "cgroups": cg,
        "cgroup_v1_hierarchies": v1,
        "versions": {
            "orchd": "%s, tree at commit %s (plus uncommitted work of that moment)" % (
                cmd_out([orchd, "version"]), cmd_out(["git", "-C", REPO, "rev-parse", "--short",
                                                      "HEAD"])),
            "supervisor": dpkg_version("supervisor"),
            "s6": dpkg_version("s6"),
            "skalibs": dpkg_version("libskarnet2.13") or dpkg_version("skalibs-dev"),
            "runit": dpkg_version("runit"),
            "containerd": dpkg_version("containerd"),
            "runc": dpkg_version("runc"),
            "python3": platform.python_version(),
            "gnuplot": dpkg_version("gnuplot-nox"),
            "strace": dpkg_version("strace"),
            "gcc": dpkg_version("gcc-12") or dpkg_version("gcc"),
            "libuv": dpkg_version("libuv1"),
            "dash (/bin/sh)": dpkg_version("dash"),
            "coreutils (sleep)": dpkg_version("coreutils"),
        },
    }


def load_snapshot():
    la = (procfs.read("/proc/loadavg") or "").split()[:3]
    top = cmd_out(["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"]) or ""
    return {"loadavg": la, "top": [" ".join(l.split()) for l in top.splitlines()[:6]]}


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        self.logf = open(os.path.join(args.out, "bench.log"), "a", buffering=1)
        self.ns = "bench%d" % os.getpid()
        self.deadline = float(os.environ.get("BENCH_DEADLINE", time.time() + 840))
        self.results = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "trimmed": [],
                        "errors": [], "namespace": self.ns}
        self.seq = 0

    def log(self, msg):
        line = "[%s] %s" % (time.strftime("%H:%M:%S"), msg)
        print(line, flush=True)
        self.logf.write(line + "\n")

    def left(self):
        return self.deadline - time.time()

    def make(self, name, n, mark=tools.MARK):
        self.seq += 1
        d = os.path.join(self.work, "%s-%d-%d" % (name, n, self.seq))
        cls = tools.TOOLS.get(name)
        if name == "floor":
            return tools.FloorStart(d, n, self.logf, self.args.floor, mark)
        if issubclass(cls, tools.Orchd):
            return cls(d, n, self.logf, self.args.orchd, self.ns, mark)
        return cls(d, n, self.logf, mark)

    # -- host: start / memory / idle / stop ---------------------------------

    def settle(self, what):
        """Before a measurement: the kernel done with what the last one tore
        down (tools.wait_settled); waits over a second are logged and kept."""
        waited = tools.wait_settled()
        if waited > 1.0:
            self.log("settle before %s: waited %.1f s for the kernel" % (what, waited))
            self.results.setdefault("settle_waits", []).append([what, round(waited, 1)])

    def host_n(self, n, reps, idle_s, reserve):
        runs = self.results.setdefault("host_runs", [])
        names = HOST_TOOLS + DIAG_TOOLS
        t_first = None
        for rep in range(reps):
            if rep > 0 and t_first is not None and self.left() - reserve < t_first * 1.1:
                self.results["trimmed"].append(
                    "N=%d: %d of %d repetitions run (time budget)" % (n, rep, reps))
                self.log("N=%d: stopping after %d repetitions (time budget)" % (n, rep))
                break
            t_rep = time.time()
            k = rep % len(names)
            for name in names[k:] + names[:k]:
                self.settle("N=%d rep %d %s" % (n, rep, name))
                tool = self.make(name, n)
                idle = idle_s if (rep == 0 and name in HOST_TOOLS) else 0
                try:
                    r = hostbench.one_run(tool, idle_s=idle)
                except Exception as e:
                    self.log("ERROR %s N=%d rep %d: %s" % (name, n, rep, e))
                    self.logf.write(traceback.format_exc())
                    self.results["errors"].append("%s N=%d rep %d: %s" % (name, n, rep, e))
                    r = {"tool": name, "n": n, "error": str(e)}
                    tool.stop() if tool.proc else None
                    tool.reap()
                finally:
                    procfs.kill_ours(tool.dir, tool.marks())
                    tools.rmtree(tool.dir)
                if name == "floor" and tool.loop_s is not None:
                    r["loop_s"] = tool.loop_s
                r["rep"] = rep
                runs.append(r)
                self.log("N=%-4d rep %d %-12s start %s stop %s pss %s%s" % (
                    n, rep, name, fmt(r.get("start_s")), fmt(r.get("stop_s")),
                    r.get("pss_kb"), "  idle cs %s cpu %sms" % (r.get("idle_ctxt"),
                                                               r.get("idle_cpu_ms"))
                    if "idle_ctxt" in r else ""))
            if t_first is None:
                t_first = time.time() - t_rep - (idle_s * len(HOST_TOOLS) + 1.3 * len(HOST_TOOLS))
                t_first = max(t_first, 1.0)
            tools.cleanup_cgroups(self.ns)

    # -- restarts ------------------------------------------------------------

    def restarts(self, n, rounds):
        lst = []
        for k, name in enumerate(HOST_TOOLS):
            lst.append(self.make(name, n, tools.MARK + 100000 + 1000 * k))
        lst.append(self.make("orchd-nocg", n, tools.MARK + 100000 + 1000 * len(lst)))
        lst.append(tools.FloorRespawn(os.path.join(self.work, "floor-respawn"), 1, self.logf,
                                      self.args.floor, tools.MARK + 190000))
        self.log("restart phase: %d tools x %d services, %d kills each" % (len(lst), n, rounds))
        try:
            out, method = hostbench.restart_phase(lst, rounds, self.log)
        except Exception as e:
            self.log("ERROR restart phase: %s" % e)
            self.logf.write(traceback.format_exc())
            self.results["errors"].append("restart phase: %s" % e)
            out, method = {}, None
        finally:
            for t in lst:
                procfs.kill_ours(t.dir, t.marks())
                tools.rmtree(t.dir)
            tools.cleanup_cgroups(self.ns)
        self.results["restart"] = {"n": n, "rounds": rounds, "ms": out, "method": method}
        for name, xs in out.items():
            self.log("restart %-12s median %s ms" % (name, fmt(hostbench.median(xs))))

    # -- scale (orchd alone) ---------------------------------------------------

    def scale(self):
        ns = env_list("BENCH_SCALE_NS", "1000,10000") if os.environ.get(
            "BENCH_SCALE_NS", "x") else []
        if not ns:
            self.results["scale"] = {"measured": False, "reason": "BENCH_SCALE_NS empty"}
            return
        reps = {}
        for part in os.environ.get("BENCH_SCALE_REPS", "1000:3,10000:3").split(","):
            k, v = part.split(":")
            reps[int(k)] = int(v)
        idle = float(os.environ.get("BENCH_SCALE_IDLE", "5"))
        self.log("scale: orchd alone at N=%s" % ",".join(map(str, ns)))
        namespace = self.ns + "s"
        try:
            r = scale.run(self.args.orchd, self.work, ns, reps, tools.MARK + 500000, namespace,
                          idle, self.logf, left=self.left)
        except Exception as e:
            self.logf.write(traceback.format_exc())
            self.results["errors"].append("scale: %s" % e)
            r = {"measured": False, "reason": "bench error: %s" % e}
        finally:
            procfs.kill_ours(self.work, (tools.MARK + 500000, tools.MARK + 600000))
            for rep in range(max(reps.values() or [1])):
                tools.cleanup_cgroups("%s%d" % (namespace, rep))
        self.results["scale"] = r
        self.results["trimmed"] += r.get("trimmed", [])
        for n, rows in r.get("rows", {}).items():
            for row in rows:
                self.log("scale N=%s: %s" % (n, " ".join("%s=%s" % (k, fmt(v)) for k, v in
                                                         row.items() if k != "n")))

    # -- profile -------------------------------------------------------------

    def profile(self, n):
        self.log("profile: orchd daemon under strace, grow of %d services" % n)
        d = os.path.join(self.work, "profile-%d" % n)
        try:
            self.results["profile"] = orchprofile.run(self.args.orchd, d, n, tools.MARK + 300000,
                                                      self.ns, self.logf)
            self.log("profile: orchd daemon under strace, 5 restarts")
            self.results["profile_restart"] = orchprofile.run_restarts(
                self.args.orchd, d + "-restart", tools.MARK + 290000, self.ns, self.logf)
        except Exception as e:
            self.log("ERROR profile: %s" % e)
            self.logf.write(traceback.format_exc())
            self.results["errors"].append("profile: %s" % e)
        finally:
            procfs.kill_ours(d, (tools.MARK + 300000, tools.MARK + 300000 + n))
            procfs.kill_ours(d + "-restart", (tools.MARK + 290000, tools.MARK + 290010))
            tools.rmtree(d)
            tools.rmtree(d + "-restart")
            tools.cleanup_cgroups(self.ns)

    # -- containers ----------------------------------------------------------

    def containers(self):
        if os.environ.get("BENCH_CONTAINERS", "1") == "0":
            self.results["containers"] = {"measured": False, "reason": "BENCH_CONTAINERS=0"}
            return
        self.log("containers: orchd vs ctr")
        try:
            r = containers.run(self.args.repo, self.args.orchd, self.work, self.logf,
                               namespace=self.ns + "c")
        except Exception as e:
            self.logf.write(traceback.format_exc())
            r = {"measured": False, "reason": "bench error: %s" % e}
        self.results["containers"] = r
        self.log("containers: %s" % ("measured" if r.get("measured") else
                                     "NOT measured: " + r.get("reason", "?")))

    def run(self):
        a = self.results
        a["machine"] = machine_info(self.args.orchd)
        a["machine"]["work_fs"] = fs_type(self.args.work)
        a["load_before"] = load_snapshot()
        a["nice"] = os.nice(0)
        ns = env_list("BENCH_NS", "10,100,1000")
        reps = env_reps("10:5,100:5,1000:3")
        idle = float(os.environ.get("BENCH_IDLE", "10"))
        rounds = int(os.environ.get("BENCH_RESTARTS", "20"))
        rn = int(os.environ.get("BENCH_RESTART_N", "100"))
        pn = int(os.environ.get("BENCH_PROFILE_N", "1000"))
        p = a["params"] = {"ns": ns, "reps": reps, "idle_s": idle, "restart_rounds": rounds,
                       "restart_n": rn, "profile_n": pn}
        big = max(ns)
        # The largest N goes last, with whatever time is left after the rest.
        for n in sorted(ns):
            if n != big:
                self.host_n(n, reps.get(n, 3), idle, reserve=0)
        if rounds:
            self.settle("the restart phase")
            self.restarts(rn, rounds)
        self.settle("the container phase")
        self.containers()
        self.scale()
        # The profile goes last: its grow creates and removes 1,000 cgroups,
        # and the kernel's clean-up of those would slow down whatever orchd
        # run came right after it. Its ~40 s are reserved from the largest
        # N's repetitions.
        self.host_n(big, reps.get(big, 3), idle, reserve=45 if pn else 10)
        if pn:
            self.settle("the profile")
            if self.left() < 40:
                pn = min(pn, 300)
                self.results["trimmed"].append("profile at N=%d instead of %d (time budget)"
                                               % (pn, p["profile_n"]))
            if self.left() > 15:
                self.profile(pn)
        a["load_after"] = load_snapshot()
        a["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
        tools.cleanup_cgroups(self.ns)
        with open(os.path.join(self.args.out, "results.json"), "w") as f:
            json.dump(a, f, indent=1)
        self.log("wrote %s" % os.path.join(self.args.out, "results.json"))


def fmt(x):
    return "-" if x is None else "%.4g" % x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--orchd")
    ap.add_argument("--floor")
    ap.add_argument("--out")
    ap.add_argument("--work")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    ap.add_argument("--cleanup", metavar="WORKDIR")
    args = ap.parse_args()
    if args.cleanup:
        work = os.path.abspath(args.cleanup)
        left = procfs.kill_ours(work, tools.MARKS_ALL)
        ktrace.remove_stale("orchd-bench-")
        ns = (procfs.read(os.path.join(work, "namespace")) or "").strip()
        if ns:
            tools.cleanup_cgroups(ns)
            tools.cleanup_cgroups(ns + "c")
        return 0 if not left else 1
    os.makedirs(args.out, exist_ok=True)

    def on_term(sig, frame):
        # Once: the clean-up in the finally blocks must not be interrupted.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt("signal %d" % sig)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    b = Bench(args)
    with open(os.path.join(args.work, "namespace"), "w") as f:
        f.write(b.ns + "\n")
    try:
        b.run()
    finally:
        procfs.kill_ours(args.work, tools.MARKS_ALL)
        tools.cleanup_cgroups(b.ns)
        tools.cleanup_cgroups(b.ns + "c")
    return 0


if __name__ == "__main__":
    sys.exit(main())
