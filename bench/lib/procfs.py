"""Reading /proc for the benchmark: process trees, memory, context switches,
CPU time, and finding (and killing) what the bench started."""
import os
import signal
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def cmdline(pid):
    raw = read("/proc/%d/cmdline" % pid, "rb")
    if not raw:
        return None
    return raw.rstrip(b"\0").decode("utf-8", "replace").split("\0")


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]
    (so field N of proc(5) is index N-3)."""
    raw = read("/proc/%d/stat" % pid)
    if not raw:
        return None
    return raw[raw.rfind(")") + 2:].split()


def alive(pid):
    """Exists and is not a zombie."""
    f = stat_fields(pid)
    return f is not None and f[0] not in ("Z", "X")


def ppid(pid):
    f = stat_fields(pid)
    return int(f[1]) if f else None


def starttime(pid):
    """Seconds since boot when the process was forked (clock ticks, so 10 ms
    resolution); compare with time.clock_gettime(CLOCK_BOOTTIME)."""
    f = stat_fields(pid)
    return int(f[19]) / CLK_TCK if f else None


def busy_ticks():
    """CPU time of the whole machine so far that was not idle or iowait, in
    clock ticks, summed over CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    return v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)


def cpu_ticks(pid):
    """utime + stime of the whole process (all threads)."""
    f = stat_fields(pid)
    return int(f[11]) + int(f[12]) if f else 0


def children(pid):
    out = []
    for tid in os.listdir("/proc/%d/task" % pid) if os.path.isdir("/proc/%d/task" % pid) else []:
        raw = read("/proc/%d/task/%s/children" % (pid, tid))
        if raw:
            out.extend(int(x) for x in raw.split())
    return out


def ctxt_switches(pid):
    """voluntary + nonvoluntary context switches, summed over every thread
    (/proc/PID/status alone counts only the main thread)."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for tid in tids:
        raw = read("/proc/%d/task/%s/status" % (pid, tid))
        if not raw:
            continue
        for line in raw.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


def threads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def rss_pss_kb(pid):
    raw = read("/proc/%d/smaps_rollup" % pid)
    rss = pss = 0
    if raw:
        for line in raw.splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def memory(pids):
    rss = pss = 0
    for p in pids:
        r, s = rss_pss_kb(p)
        rss += r
        pss += s
    return rss, pss


def usage(pids):
    """(context switches, CPU ticks) summed over pids."""
    return (sum(ctxt_switches(p) for p in pids), sum(cpu_ticks(p) for p in pids))


def all_pids():
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            out.append(int(name))
    return out


def find_services(mark, n):
    """{index: pid} of live processes whose command line is `sleep MARK+i`."""
    want = {str(mark + i): i for i in range(n)}
    found = {}
    for pid in all_pids():
        c = cmdline(pid)
        if c and len(c) == 2 and c[0].endswith("sleep") and c[1] in want and alive(pid):
            found[want[c[1]]] = pid
    return found


def wait_gone(pids, timeout):
    """Waits until none of pids is alive; returns True if they all went."""
    end = time.monotonic() + timeout
    pending = [p for p in pids if alive(p)]
    while pending:
        if time.monotonic() > end:
            return False
        time.sleep(0.002)
        pending = [p for p in pending if alive(p)]
    return True


def ours(pid, root, marks):
    """Whether a process belongs to this bench run: its command line names
    the run's temp root, its cwd lies under it, or it is one of our marked
    sleeps (`sleep M` with marks[0] <= M < marks[1])."""
    if pid == os.getpid():
        return False
    c = cmdline(pid)
    if c is None:
        return False
    if any(root in a for a in c):
        return True
    if len(c) == 2 and c[0].endswith("sleep") and c[1].isdigit() and \
            marks[0] <= int(c[1]) < marks[1]:
        return True
    try:
        cwd = os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return False
    return cwd == root or cwd.startswith(root + "/")


def kill_ours(root, marks, rounds=20):
    """SIGKILLs every process of this run (see ours), until none is left.
    Supervisors first, so that nothing restarts what we kill."""
    me = os.getpid()
    for _ in range(rounds):
        victims = [p for p in all_pids() if p != me and alive(p) and ours(p, root, marks)]
        if not victims:
            return 0
        for p in victims:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    return len(victims)
