"""orchd alone at N = 1,000 and 10,000 bare `sleep` services (issue 15): how
each operation's cost grows with N. Per N and repetition, on a fresh state
directory: grow (until `orchd grow` returns: all running), survey (one
`orchd survey`), one restart (kill -9 one service until its new process
shows up among the daemon's children), a reload of one changed service
(`orchd grow` of the Orchfile with that service's RUN changed: only it is
restarted), idle context switches and CPU of the daemon over a window, and
fell (until `orchd fell` returns: everything stopped, the daemon gone).

10,000 services need more pids than Debian's default kernel.pid_max of
32768 leaves on a shared machine, and more fds for the bench's clients: the
run raises kernel.pid_max to at least 131072 (restored afterwards; raising it
changes nothing for running processes) and RLIMIT_NOFILE of this process
(inherited by orchd) to its hard limit, and records both."""
import os
import resource
import shutil
import signal
import subprocess
import time

import procfs
import tools

PID_MAX = "/proc/sys/kernel/pid_max"
WANT_PID_MAX = 131072


def orchfile(path, n, mark, changed=None):
    with open(path, "w") as f:
        f.write("ORCH_VERSION 0.2.1\n\n")
        for i in range(n):
            arg = mark + i if i != changed else mark + n + 1
            f.write("SERVICE s%d\nRUN exec sleep %d\nRESTART always\nRESTART_DELAY 0s\n"
                    "START_LIMIT_BURST 0\n\n" % (i, arg))


def timed(argv, env, cwd, log):
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("%s exited %d" % (" ".join(argv[:2]), r.returncode))
    return dt


def last_pid():
    return int(procfs.read("/proc/sys/kernel/ns_last_pid"))


def kill_and_wait(parent, old, want, timeout=20):
    """kill -9 old; seconds until a new child of parent runs `want`. The
    poll looks only at pids allocated after the kill (the kernel hands them
    out in order: /proc/sys/kernel/ns_last_pid, wrapping at pid_max), so
    its cost does not grow with N; reading the daemon's children list
    instead costs ~N each poll and inflated the N=10,000 row."""
    pid_max = int(procfs.read("/proc/sys/kernel/pid_max"))
    nxt = last_pid() + 1
    mine, unseen = [], []
    t0 = time.perf_counter()
    os.kill(old, signal.SIGKILL)
    while time.perf_counter() - t0 < timeout:
        cur = last_pid()
        if cur < nxt - 1:  # wrapped: the rest of the range, then from the start
            unseen.extend(range(nxt, pid_max))
            nxt = 1
        # a pid is counted before its process shows in /proc (alloc_pid
        # comes before attach_pid in fork): unseen ones are looked at again
        unseen.extend(range(nxt, cur + 1))
        nxt = max(nxt, cur + 1)
        still = []
        for p in unseen:
            pp = procfs.ppid(p)
            if pp == parent:
                mine.append(p)
            elif pp is None:
                still.append(p)
        unseen = still
        for p in mine:  # forked, maybe not yet exec'ed
            if procfs.cmdline(p) == want:
                return time.perf_counter() - t0
    return None


def one(orchd, work, n, mark, namespace, idle_s, log):
    d = os.path.join(work, "scale-%d" % n)
    os.makedirs(d, exist_ok=True)
    of = os.path.join(d, "Orchfile")
    orchfile(of, n, mark)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(HOME=d, ORCH_STATE_DIR=os.path.join(d, "state"), ORCH_NAMESPACE=namespace)
    r = {"n": n}
    grow = [orchd, "grow", "-f", of]
    r["grow_s"] = timed(grow, env, d, log)
    svc = procfs.find_services(mark, n)
    if len(svc) != n:
        raise RuntimeError("scale N=%d: /proc shows %d services" % (n, len(svc)))
    daemon = procfs.ppid(svc[0])
    # each operation starts on a settled kernel, as every other measurement
    # of the bench does: right after a grow of 10,000 the kernel is still
    # busy with what the start left (the same holds after the restart)
    tools.wait_settled()
    r["survey_s"] = timed([orchd, "survey"], env, d, log)
    # one restart: a service up for more than a second
    time.sleep(1.0)
    tools.wait_settled()
    i = n // 2
    r["restart_s"] = kill_and_wait(daemon, svc[i], ["sleep", str(mark + i)])
    # reload of one changed service
    j = n // 3
    orchfile(of, n, mark, changed=j)
    tools.wait_settled()
    r["reload_one_s"] = timed(grow, env, d, log)
    # idle: nothing to do, nothing should wake the daemon
    time.sleep(0.5)
    c0, t0c = procfs.ctxt_switches(daemon), procfs.cpu_ticks(daemon)
    time.sleep(idle_s)
    c1, t1c = procfs.ctxt_switches(daemon), procfs.cpu_ticks(daemon)
    r["idle_ctxt"] = (c1 - c0) if c0 is not None and c1 is not None else None
    r["idle_cpu_ticks"] = (t1c - t0c) if t0c is not None and t1c is not None else None
    tools.wait_settled()
    r["fell_s"] = timed([orchd, "fell", "-f", of], env, d, log)
    procfs.wait_gone([daemon], 30)
    shutil.rmtree(d, ignore_errors=True)
    return r


def raise_limits():
    """Returns what to restore, and what was set (for the report)."""
    before = {}
    try:
        cur = int(open(PID_MAX).read())
        before["pid_max"] = cur
        if cur < WANT_PID_MAX:
            with open(PID_MAX, "w") as f:
                f.write(str(WANT_PID_MAX))
    except (OSError, ValueError):
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before["nofile"] = (soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    after = {"pid_max": int(open(PID_MAX).read()),
             "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
    return before, after


def restore_limits(before):
    if "pid_max" in before:
        try:
            if int(open(PID_MAX).read()) != before["pid_max"]:
                with open(PID_MAX, "w") as f:
                    f.write(str(before["pid_max"]))
        except (OSError, ValueError):
            pass
    if "nofile" in before:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, before["nofile"])
        except (ValueError, OSError):
            pass


def run(orchd, work, ns_list, reps, mark, namespace, idle_s, log, left=lambda: 1e9):
    before, after = raise_limits()
    out = {"measured": True, "limits_before": before, "limits": after, "rows": {}, "trimmed": []}
    try:
        for n in ns_list:
            rows = []
            want = reps.get(n, 1)
            for rep in range(want):
                # a 10,000 run takes ~1 min on 2 loaded cores: keep one
                if rep > 0 and left() < 120:
                    out["trimmed"].append("scale N=%d: %d of %d repetitions (time budget)"
                                          % (n, rep, want))
                    break
                tools.wait_settled()  # the previous repetition's teardown
                rows.append(one(orchd, work, n, mark + rep * 20000, "%s%d" % (namespace, rep),
                                idle_s, log))
            out["rows"][str(n)] = rows
    finally:
        restore_limits(before)
    return out
