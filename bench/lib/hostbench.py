"""Host-service benchmark: start, memory, idle cost, restart latency and
stop-all for orchd and its peers, N sleeping services each."""
import os
import signal
import statistics
import subprocess
import time

import ktrace
import procfs
import tools


def boottime():
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class RunFailed(Exception):
    pass


def one_run(tool, idle_s=0, restarts=0, log=print):
    """Starts tool's N services, measures, stops. Returns a dict."""
    n = tool.n
    res = {"tool": tool.name, "n": n}
    tool.setup()
    timeout = 60 + n * 0.2
    t0b = boottime()
    busy0 = procfs.busy_ticks()
    t0 = time.perf_counter()
    tool.start()
    while True:
        if tool.status_done():
            break
        if time.perf_counter() - t0 > timeout:
            raise RunFailed("%s: N=%d not all running after %.0f s" % (tool.name, n, timeout))
        if isinstance(tool, tools.Orchd):
            time.sleep(0.0005)
        else:
            time.sleep(0.01)
    res["start_s"] = time.perf_counter() - t0
    # Every CPU's busy time during the start: the tool's own work and its
    # services' exec and start-up (the services' share is the same for all).
    res["busy_ms"] = (procfs.busy_ticks() - busy0) * 1000.0 / procfs.CLK_TCK

    # Ground truth, independent of how fast the status command answers:
    # when was the last service process forked (10 ms resolution).
    svc = {}
    for _ in range(200):
        svc = procfs.find_services(tool.mark, n)
        if len(svc) == n:
            break
        time.sleep(0.01)
    if len(svc) != n:
        raise RunFailed("%s: status says all %d running but /proc shows %d" % (tool.name, n, len(svc)))
    res["last_fork_s"] = max(procfs.starttime(p) for p in svc.values()) - t0b
    if isinstance(tool, tools.Orchd):
        res["survey_running"] = tool.check_running()
        p = tool.daemon_pid()
        # The daemon is new: all its CPU time so far is the start.
        res["daemon_cpu_ms"] = procfs.cpu_ticks(p) * 1000.0 / procfs.CLK_TCK if p else None
        f = procfs.stat_fields(p) if p else None
        if f:
            res["daemon_user_ms"] = int(f[11]) * 1000.0 / procfs.CLK_TCK
            res["daemon_sys_ms"] = int(f[12]) * 1000.0 / procfs.CLK_TCK

    time.sleep(0.3)
    sup = tool.supervisors()
    res["supervisor_procs"] = len(sup)
    res["rss_kb"], res["pss_kb"] = procfs.memory(sup)
    res["threads"] = sum(procfs.threads(p) for p in sup)

    if idle_s:
        time.sleep(1.0)
        sup = tool.supervisors()
        cs0, cpu0 = procfs.usage(sup)
        time.sleep(idle_s)
        cs1, cpu1 = procfs.usage(sup)
        res["idle_window_s"] = idle_s
        res["idle_ctxt"] = cs1 - cs0
        res["idle_cpu_ms"] = (cpu1 - cpu0) * 1000.0 / procfs.CLK_TCK

    if restarts:
        res["restart_ms"] = restart_latencies(tool, svc, restarts)

    allpids = set(tool.supervisors()) | set(svc.values())
    t0 = time.perf_counter()
    tool.stop()
    gone = procfs.wait_gone(allpids, 60 + n * 0.1)
    res["stop_s"] = time.perf_counter() - t0
    if not gone:
        res["stop_incomplete"] = True
    tool.reap()
    left = procfs.kill_ours(tool.dir, tool.marks())
    if left:
        res["leftovers_killed"] = left
    # count what we had to kill ourselves (should be 0)
    return res


def restart_latencies(tool, svc, count):
    """kill -9 `count` different services (each up for > 1 s, so runit's and
    s6's one-second respawn throttle does not apply), one after another; each
    time, spin on the parent's /proc children list until a new child whose
    command line is the service's `sleep` shows up."""
    n = tool.n
    idx = sorted({(k * n) // count for k in range(count)})
    out = []
    for i in idx:
        old = svc[i]
        parent = procfs.ppid(old)
        want = ["sleep", str(tool.mark + i)]
        before = set(procfs.children(parent))
        t0 = time.perf_counter()
        os.kill(old, signal.SIGKILL)
        new = None
        while new is None:
            for c in procfs.children(parent):
                if c not in before and procfs.cmdline(c) == want:
                    new = c
                    break
            if time.perf_counter() - t0 > 10:
                break
        dt = time.perf_counter() - t0
        if new is None:
            # maybe respawned by someone else (e.g. a new supervisor process)
            found = procfs.find_services(tool.mark, n).get(i)
            if found and found != old:
                new = found
                dt = None
        out.append(dt * 1000.0 if dt is not None and new else None)
        if new:
            svc[i] = new
        time.sleep(0.05)
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def start_and_wait(tool, timeout=120):
    tool.setup()
    tool.start()
    t0 = time.perf_counter()
    while not tool.status_done():
        if time.perf_counter() - t0 > timeout:
            raise RunFailed("%s: not all running after %.0f s" % (tool.name, timeout))
        time.sleep(0.01)
    for _ in range(300):
        svc = procfs.find_services(tool.mark, tool.n)
        if len(svc) == tool.n:
            return svc
        time.sleep(0.01)
    raise RunFailed("%s: /proc shows %d of %d services" % (tool.name, len(svc), tool.n))


def kill_and_wait(tool, svc, i, timeout=10.0):
    """kill -9 service i; spin on its parent's /proc children list until a
    new child whose command line is the service's `sleep` appears. Returns
    milliseconds, or None if none appeared within timeout."""
    old = svc[i]
    parent = procfs.ppid(old)
    want = ["sleep", str(tool.mark + i)]
    # Only children that were not there before the kill are read: reading
    # every child's cmdline on each spin cost orchd, the direct parent of
    # all N services, ~N file reads per spin where s6-supervise and runsv
    # have one child each (about 2 ms of the "latency" at N=100).
    before = set(procfs.children(parent))
    t0 = time.perf_counter()
    os.kill(old, signal.SIGKILL)
    while True:
        for c in procfs.children(parent):
            if c not in before and procfs.cmdline(c) == want:
                svc[i] = c
                return (time.perf_counter() - t0) * 1000.0
        if time.perf_counter() - t0 > timeout:
            found = procfs.find_services(tool.mark, tool.n).get(i)
            if found:
                svc[i] = found
            return None


def kill_and_trace(tool, svc, i, trace, timeout=10.0):
    """kill -9 service i; the latency is taken from the kernel's own stamps
    (ktrace): from the SIGKILL to the exec of a `sleep` whose command line is
    the service's. Returns milliseconds, or None if no such exec came within
    timeout. The trace is read every few milliseconds; how often does not
    change the figure."""
    old = svc[i]
    want = ["sleep", str(tool.mark + i)]
    found = {}

    def is_service(pid, filename):
        if os.path.basename(filename) != "sleep" or procfs.cmdline(pid) != want:
            return False
        found["pid"] = pid
        return True

    trace.clear()
    t0 = time.perf_counter()
    os.kill(old, signal.SIGKILL)
    while time.perf_counter() - t0 < timeout:
        time.sleep(0.003)
        ms = ktrace.restart_ms(trace.events(), old, is_service)
        if ms is not None:
            svc[i] = found["pid"]
            return ms
    found_now = procfs.find_services(tool.mark, tool.n).get(i)
    if found_now:
        svc[i] = found_now
    return None


def restart_phase(tool_list, rounds, log=print):
    """All tools up at once (N each, distinct marks), then `rounds` rounds;
    in each round one service of every tool is killed in turn (rotating
    order), so that each round's ratios compare latencies taken within
    about a second of each other. Every killed service has been up for
    more than a second (runit and s6 delay a respawn by a second when the
    service died within a second of its start)."""
    svcs = {}
    out = {t.name: [] for t in tool_list}
    trace = None
    if ktrace.available():
        try:
            trace = ktrace.ExecTrace("orchd-bench-%d" % os.getpid())
        except OSError as e:
            log("restart phase: no kernel trace (%s); spinning on /proc instead" % e)
    method = "ktrace" if trace else "spin"
    try:
        for t in tool_list:
            svcs[t.name] = start_and_wait(t)
        time.sleep(1.5)
        for r in range(rounds):
            k = r % len(tool_list)
            for t in tool_list[k:] + tool_list[:k]:
                i = (r * t.n) // rounds
                if trace:
                    out[t.name].append(kill_and_trace(t, svcs[t.name], i, trace))
                else:
                    out[t.name].append(kill_and_wait(t, svcs[t.name], i))
                time.sleep(0.03)
    finally:
        if trace:
            trace.close()
        for t in tool_list:
            try:
                t.stop()
            except Exception as e:  # keep stopping the others
                log("stop %s: %s" % (t.name, e))
        for t in tool_list:
            pids = set(t.supervisors()) | set(svcs.get(t.name, {}).values())
            procfs.wait_gone(pids, 30)
            t.reap()
            procfs.kill_ours(t.dir, t.marks())
    return out, method
