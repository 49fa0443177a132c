"""Where orchd's start time goes: `orchd daemon` run under strace (-f, with
seccomp-bpf so that only the traced syscalls stop), then one `orchd grow` of
N services; the trace is split into the daemon's and the children's time
(children = from fork to their execve), by syscall and, for writes to
cgroup.procs, by cgroup hierarchy. strace slows everything down, so the
absolute numbers are inflated; the shares are what matter."""
import collections
import os
import re
import signal
import subprocess
import time

import procfs

TRACED = "read,write,mkdir,openat,execve,clone,clone3,vfork,rmdir,wait4,epoll_wait"
# strace -ttt: PID  EPOCH.USEC syscall(args) = ret <duration>
LINE = re.compile(r'^(\d+)\s+(\d+\.\d+) (\w+)\((.*)<([\d.]+)>$')
UNFINISHED = re.compile(r'^(\d+)\s+(\d+\.\d+) (\w+)\((.*) <unfinished \.\.\.>$')
RESUMED = re.compile(r'^(\d+)\s+\d+\.\d+ <\.\.\. (\w+) resumed>(.*)<([\d.]+)>$')


def records(path):
    """(pid, start, syscall, args, duration) per completed syscall, joining
    strace's <unfinished ...> / <... resumed> halves."""
    pending = {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = LINE.match(line)
            if m:
                yield m.group(1), float(m.group(2)), m.group(3), m.group(4), float(m.group(5))
                continue
            m = UNFINISHED.match(line)
            if m:
                pending[m.group(1)] = (float(m.group(2)), m.group(3), m.group(4))
                continue
            m = RESUMED.match(line)
            if m and m.group(1) in pending:
                ts, sc, args = pending.pop(m.group(1))
                yield m.group(1), ts, sc, args + m.group(3), float(m.group(4))


def run(orchd, workdir, n, mark, namespace, log):
    os.makedirs(workdir, exist_ok=True)
    state = os.path.join(workdir, "state")
    orchfile = os.path.join(workdir, "Orchfile")
    trace = os.path.join(workdir, "strace.txt")
    with open(orchfile, "w") as f:
        f.write("ORCH_VERSION 0.2.1\n\n")
        for i in range(n):
            f.write("SERVICE s%d\nRUN exec sleep %d\nRESTART always\nRESTART_DELAY 0s\n\n"
                    % (i, mark + i))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(HOME=workdir, ORCH_STATE_DIR=state, ORCH_NAMESPACE=namespace)
    st = subprocess.Popen(["strace", "-f", "--seccomp-bpf", "-ttt", "-T", "-y", "-qq",
                           "-e", "trace=" + TRACED, "-o", trace,
                           orchd, "daemon", "--state-dir", state, "--project-dir", workdir,
                           "--namespace", namespace],
                          env=env, stdout=log, stderr=log, start_new_session=True)
    res = {"n": n}
    try:
        for _ in range(500):
            if os.path.exists(os.path.join(state, "orchd.sock")):
                break
            time.sleep(0.01)
        time.sleep(0.2)
        t0 = time.time()
        r = subprocess.run([orchd, "grow", "-f", orchfile], env=env, stdout=log, stderr=log)
        t1 = time.time()
        res["grow_s_under_strace"] = t1 - t0
        res["grow_rc"] = r.returncode
    finally:
        subprocess.run([orchd, "fell", "-f", orchfile], env=env, stdout=log, stderr=log)
        try:
            st.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(st.pid, signal.SIGKILL)
            st.wait()
        procfs.kill_ours(workdir, (mark, mark + n))
    res.update(analyse(trace, t0, t1))
    return res


def analyse(path, t0, t1):
    """Sums syscall durations inside [t0, t1] (the grow) by process kind
    (the daemon; a child between fork and its execve, which the daemon waits
    for; the service after its execve) and category."""
    daemon = None
    tot = collections.Counter()
    cnt = collections.Counter()
    first = {}
    exec_end = {}
    hier = set()
    if True:
        for pid, ts, sc, args, dur in records(path):
            if daemon is None:
                daemon = pid
            if not (t0 <= ts <= t1):
                continue
            who = "daemon" if pid == daemon else "child"
            cat = sc
            if who == "child":
                first.setdefault(pid, ts)
                if pid in exec_end:
                    who, cat = "service", "after its execve (the service's own start-up)"
                elif sc == "execve" and re.search(r"\) = 0\s*$", args):
                    exec_end[pid] = ts + dur
            if who == "service":
                pass
            elif sc in ("write", "openat") and "cgroup.procs" in args:
                h = re.search(r'/sys/fs/cgroup/([^/>]+)', args)
                if h and sc == "write":
                    hier.add(h.group(1))
                cat = "%s cgroup.procs (%s)" % (sc, h.group(1) if h else "?")
            elif sc == "mkdir" and "/sys/fs/cgroup" in args:
                cat = "mkdir under /sys/fs/cgroup"
            elif sc == "read" and "pipe:" in args and who == "daemon":
                cat = "read exec-report pipe (waiting for the child's execve)"
            elif sc == "epoll_wait":
                cat = "epoll_wait (idle in the loop)"
            tot[(who, cat)] += dur
            cnt[(who, cat)] += 1
    pre_exec = [exec_end[p] - first[p] for p in exec_end if p in first]
    return {
        "window_s": t1 - t0 if t1 > t0 else None,
        # fork-to-exec wall time of each child: the daemon waits for it
        "children": len(pre_exec),
        "cgroup_hierarchies": sorted(hier),
        "child_fork_to_exec_s": sum(pre_exec),
        "by_category": [{"who": k[0], "what": k[1], "seconds": v, "calls": cnt[k]}
                        for k, v in tot.most_common(16)],
    }


def run_restarts(orchd, workdir, mark, namespace, log, kills=5):
    """orchd with 10 services; strace attached to the daemon (and its new
    children) while `kills` services are killed one by one. For each restart:
    the time from the daemon reaping the old process to the new child's
    execve of /bin/sh, and the slowest syscalls in between."""
    os.makedirs(workdir, exist_ok=True)
    state = os.path.join(workdir, "state")
    orchfile = os.path.join(workdir, "Orchfile")
    trace = os.path.join(workdir, "strace-restart.txt")
    n = 10
    with open(orchfile, "w") as f:
        f.write("ORCH_VERSION 0.2.1\n\n")
        for i in range(n):
            f.write("SERVICE s%d\nRUN exec sleep %d\nRESTART always\nRESTART_DELAY 0s\n\n"
                    % (i, mark + i))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(HOME=workdir, ORCH_STATE_DIR=state, ORCH_NAMESPACE=namespace)
    st = None
    try:
        subprocess.run([orchd, "grow", "-f", orchfile], env=env, stdout=log, stderr=log, check=True)
        daemon = int(open(os.path.join(state, "orchd.lock")).read().strip())
        time.sleep(1.5)
        st = subprocess.Popen(["strace", "-f", "-ttt", "-T", "-y", "-qq", "-e",
                               "trace=rmdir,mkdir,write,openat,clone,clone3,execve,wait4",
                               "-o", trace, "-p", str(daemon)],
                              stdout=log, stderr=log, start_new_session=True)
        time.sleep(0.5)
        for i in range(1, kills + 1):
            pid = procfs.find_services(mark, n).get(i)
            if pid:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)
    finally:
        if st:
            st.send_signal(signal.SIGINT)
            try:
                st.wait(timeout=10)
            except subprocess.TimeoutExpired:
                st.kill()
                st.wait()
        subprocess.run([orchd, "fell", "-f", orchfile], env=env, stdout=log, stderr=log)
        procfs.kill_ours(workdir, (mark, mark + n))
    out = []
    cur = None
    for pid, ts, sc, args, dur in records(trace):
        if sc == "wait4" and "WIFSIGNALED" in args:
            cur = {"t0": ts, "calls": []}
            out.append(cur)
            continue
        if cur is None or "exec_ms" in cur:
            continue
        if sc == "execve" and '"/bin/sh"' in args and re.search(r"\) = 0\s*$", args):
            cur["exec_ms"] = (ts + dur - cur["t0"]) * 1000.0
            continue
        what = sc
        m = re.search(r'</sys/fs/cgroup/([^/>]+)[^>]*/(cgroup\.procs)>', args)
        if m:
            what = "%s %s/.../cgroup.procs" % (sc, m.group(1))
        elif sc in ("mkdir", "rmdir") and "/sys/fs/cgroup" in args:
            what = sc + " (cgroup)"
        cur["calls"].append((dur * 1000.0, what))
    res = []
    for r in out:
        if "exec_ms" not in r:
            continue
        top = sorted(r["calls"], reverse=True)[:2]
        res.append({"reap_to_exec_ms": r["exec_ms"],
                    "slowest": [{"ms": d, "what": w} for d, w in top]})
    return res
