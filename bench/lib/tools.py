"""One class per supervisor under test. Each instance is one run: N services
in its own directory, each service running `sleep MARK+i` (i = 0..N-1), so
that every service process can be found in /proc by its command line.

Interface:
  setup()          write the configuration
  start()          start the supervisor (returns at once)
  status_done()    poll the tool's own status command once: True when all
                   N services are reported running (for orchd: `grow` has
                   returned, and it returns only then)
  supervisors()    pids of the supervising processes
  stop()           ask the tool to stop everything (returns at once or when
                   the tool's command returns)
  reap()           collect our direct child, if any
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import time

import procfs

MARK = 71000000
MARKS_ALL = (71000000, 72000000)  # every mark the bench uses


def backdate(path):
    """runsvdir does not trust a directory changed within the current second
    and rescans it only a second later; a real /etc/service is old, so make
    ours look old too (done for every tool's configuration alike)."""
    t = time.time() - 3600
    os.utime(path, (t, t))


def run_quiet(argv, env=None, timeout=120):
    return subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


class Tool:
    name = "?"
    label = "?"

    def __init__(self, workdir, n, logf, mark=MARK):
        self.dir = workdir
        self.n = n
        self.mark = mark
        self.log = logf
        self.proc = None
        os.makedirs(workdir, exist_ok=True)

    def spawn(self, argv, env=None):
        # Own session: a ^C on the terminal reaches the bench, which then
        # cleans up, not the supervisors half-way through a measurement.
        return subprocess.Popen(argv, env=env, cwd=self.dir, stdin=subprocess.DEVNULL,
                                stdout=self.log, stderr=self.log, start_new_session=True)

    def reap(self):
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def service_dirs(self):
        return []

    def marks(self):
        return (self.mark, self.mark + self.n)


# ---------------------------------------------------------------------------


class Orchd(Tool):
    name = "orchd"
    label = "orchd"
    cgroups = True

    def __init__(self, workdir, n, logf, orchd, namespace, mark=MARK):
        super().__init__(workdir, n, logf, mark)
        self.orchd = orchd
        self.state = os.path.join(workdir, "state")
        self.orchfile = os.path.join(workdir, "Orchfile")
        self.env = dict(os.environ, HOME=workdir, ORCH_STATE_DIR=self.state,
                        ORCH_NAMESPACE=namespace)
        for k in list(self.env):
            if k.startswith("ORCH_") and k not in ("ORCH_STATE_DIR", "ORCH_NAMESPACE"):
                del self.env[k]
        self.grow_rc = None

    def setup(self):
        with open(self.orchfile, "w") as f:
            f.write("ORCH_VERSION 0.2.1\n\n")
            for i in range(self.n):
                f.write("SERVICE s%d\nRUN exec sleep %d\nRESTART always\nRESTART_DELAY 0s\n"
                        "START_LIMIT_BURST 0\n\n" % (i, self.mark + i))
        backdate(self.dir)

    def grow_argv(self):
        return [self.orchd, "grow", "-f", self.orchfile]

    def start(self):
        self.proc = self.spawn(self.grow_argv(), env=self.env)

    def status_done(self):
        rc = self.proc.poll()
        if rc is None:
            return False
        self.grow_rc = rc
        if rc != 0:
            raise RuntimeError("orchd grow exited %d (see %s)" % (rc, self.log.name))
        return True

    def survey(self):
        r = run_quiet([self.orchd, "survey", "--json"], env=self.env)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def check_running(self):
        s = self.survey() or []
        return sum(1 for x in s if x.get("state") in ("running", "ready"))

    def daemon_pid(self):
        raw = procfs.read(os.path.join(self.state, "orchd.lock"))
        try:
            return int(raw.strip())
        except (ValueError, AttributeError):
            return None

    def supervisors(self):
        """The daemon and its log relays (one per service, docs/LOGS.md): they
        are orchd's per-service processes, as s6-supervise and runsv are
        s6's and runit's, so memory and idle wakeups count them too."""
        p = self.daemon_pid()
        if not p:
            return []
        relays = []
        for c in procfs.children(p):
            argv = procfs.cmdline(c) or []
            if argv and (argv[0].endswith("orchd-log-relay") or argv[1:2] == ["log-relay"]):
                relays.append(c)
        return [p] + relays

    def stop(self):
        r = run_quiet([self.orchd, "fell", "-f", self.orchfile], env=self.env)
        if r.returncode != 0:
            self.log.write("orchd fell: %d %s\n" % (r.returncode, r.stderr))

    def reap(self):
        super().reap()


class OrchdNoCgroup(Orchd):
    """Diagnostic only: the same orchd, started in a private mount namespace
    where /sys/fs/cgroup is an empty tmpfs, so that it finds no hierarchy and
    creates/joins no cgroup per service. Measures what the per-service cgroup
    costs on this host."""
    name = "orchd-nocg"
    label = "orchd (no cgroups, diagnostic)"
    cgroups = False

    def grow_argv(self):
        return ["unshare", "-m", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs none /sys/fs/cgroup && exec "$@"', "sh"] + super().grow_argv()


class Supervisord(Tool):
    name = "supervisord"
    label = "supervisord"

    def setup(self):
        d = self.dir
        os.makedirs(os.path.join(d, "logs"), exist_ok=True)
        self.conf = os.path.join(d, "supervisord.conf")
        with open(self.conf, "w") as f:
            f.write("""[unix_http_server]
file=%(d)s/supervisor.sock

[supervisord]
logfile=%(d)s/supervisord.log
pidfile=%(d)s/supervisord.pid
childlogdir=%(d)s/logs
nodaemon=true
minfds=%(fds)d

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(d)s/supervisor.sock

""" % {"d": d, "fds": 4 * self.n + 1024})
            for i in range(self.n):
                f.write("[program:s%d]\ncommand=sleep %d\ndirectory=%s\nautostart=true\n"
                        "autorestart=true\nstartsecs=0\nstdout_logfile=%s/logs/s%d.log\n"
                        "redirect_stderr=true\n\n" % (i, self.mark + i, d, d, i))
        backdate(self.dir)

    def start(self):
        self.proc = self.spawn(["supervisord", "-c", self.conf])

    def status_done(self):
        r = run_quiet(["supervisorctl", "-c", self.conf, "status"])
        running = sum(1 for line in r.stdout.splitlines()
                      if len(line.split()) > 1 and line.split()[1] == "RUNNING")
        return running == self.n

    def supervisors(self):
        return [self.proc.pid] if self.proc else []

    def stop(self):
        # `stop all` first: a bare `shutdown` stops the programs one group
        # (= one program here) per main-loop pass, which took 28.7 s for 100
        # services in a trial run.
        for verb in (["stop", "all"], ["shutdown"]):
            r = run_quiet(["supervisorctl", "-c", self.conf] + verb)
            if r.returncode != 0:
                self.log.write("supervisorctl %s: %d %s\n" % (verb[0], r.returncode, r.stdout))


class S6(Tool):
    name = "s6"
    label = "s6 (no readiness fd)"
    ready_fd = False

    def setup(self):
        self.scan = os.path.join(self.dir, "scan")
        os.makedirs(self.scan, exist_ok=True)
        for i in range(self.n):
            sd = os.path.join(self.scan, "s%d" % i)
            os.makedirs(sd, exist_ok=True)
            run = os.path.join(sd, "run")
            with open(run, "w") as f:
                if self.ready_fd:
                    # s6-supervise hands fd 3 to ./run; a newline there means
                    # "ready". The service itself does not keep fd 3.
                    f.write("#!/bin/sh\necho >&3\nexec sleep %d 3>&-\n" % (self.mark + i))
                else:
                    f.write("#!/bin/sh\nexec sleep %d\n" % (self.mark + i))
            os.chmod(run, 0o755)
            if self.ready_fd:
                with open(os.path.join(sd, "notification-fd"), "w") as f:
                    f.write("3\n")
        backdate(self.scan)

    def service_dirs(self):
        return [os.path.join(self.scan, "s%d" % i) for i in range(self.n)]

    def start(self):
        self.proc = self.spawn(["s6-svscan", "-c", str(max(1000, 2 * self.n)), self.scan])

    def status_done(self):
        # s6's own status wait: exits 0 once every service is up (-u) or up
        # and ready (-U); fails at once while some s6-supervise is not
        # listening yet, then we poll again.
        r = run_quiet(["s6-svwait", "-U" if self.ready_fd else "-u", "-a", "-t", "60000"] +
                      self.service_dirs())
        if r.returncode == 0:
            return True
        time.sleep(0.005)
        return False

    def supervisors(self):
        if not self.proc:
            return []
        return [self.proc.pid] + procfs.children(self.proc.pid)

    def stop(self):
        r = run_quiet(["s6-svscanctl", "-t", self.scan])
        if r.returncode != 0:
            self.log.write("s6-svscanctl -t: %d %s\n" % (r.returncode, r.stderr))


class S6Ready(S6):
    name = "s6-ready"
    label = "s6 (readiness fd)"
    ready_fd = True


class Runit(Tool):
    name = "runit"
    label = "runit"

    def setup(self):
        self.scan = os.path.join(self.dir, "scan")
        os.makedirs(self.scan, exist_ok=True)
        for i in range(self.n):
            sd = os.path.join(self.scan, "s%d" % i)
            os.makedirs(sd, exist_ok=True)
            run = os.path.join(sd, "run")
            with open(run, "w") as f:
                f.write("#!/bin/sh\nexec sleep %d\n" % (self.mark + i))
            os.chmod(run, 0o755)
        backdate(self.scan)

    def service_dirs(self):
        # Absolute: sv takes a bare name relative to $SVDIR (/etc/service).
        return [os.path.join(self.scan, "s%d" % i) for i in range(self.n)]

    def start(self):
        self.proc = self.spawn(["runsvdir", "-P", self.scan])

    def status_done(self):
        r = run_quiet(["sv", "status"] + self.service_dirs())
        return sum(1 for line in r.stdout.splitlines() if line.startswith("run: ")) == self.n

    def supervisors(self):
        if not self.proc:
            return []
        return [self.proc.pid] + procfs.children(self.proc.pid)

    def stop(self):
        # runsvdir on SIGHUP sends TERM to every runsv, which then stops its
        # service (TERM+CONT) and exits, as `sv exit` does.
        try:
            os.kill(self.proc.pid, signal.SIGHUP)
        except OSError:
            pass


TOOLS = {c.name: c for c in (Orchd, OrchdNoCgroup, Supervisord, S6, S6Ready, Runit)}


def dying_cgroups():
    """Removed cgroups the kernel has not freed yet (cgroup2's root
    cgroup.stat); None without cgroup2."""
    for stat in ("/sys/fs/cgroup/unified/cgroup.stat", "/sys/fs/cgroup/cgroup.stat"):
        text = procfs.read(stat)
        if text:
            for line in text.splitlines():
                if line.startswith("nr_dying_descendants "):
                    return int(line.split()[1])
    return None


def runnable():
    """Tasks runnable right now (/proc/loadavg's fourth field)."""
    try:
        return int((procfs.read("/proc/loadavg") or "0/0").split()[3].split("/")[0])
    except (IndexError, ValueError):
        return 0


def wait_settled(timeout=30.0):
    """Waits until what an earlier run tore down is gone: no removed cgroup
    left for the kernel to free, and at most 2 runnable tasks (this process
    and one more) in 3 samples in a row. Tearing down 10,000 services
    leaves the kernel busy for seconds after the last process exited (RCU
    frees of the cgroups, /proc dcache pruning), and whatever is measured
    then pays for it: orchd, which makes a cgroup per service, most. Returns
    the seconds waited (bounded by timeout: a shared machine may never be
    quiet)."""
    t0 = time.time()
    calm = 0
    while time.time() - t0 < timeout:
        dying = dying_cgroups()
        calm = calm + 1 if (not dying) and runnable() <= 2 else 0
        if calm >= 3:
            break
        time.sleep(0.05)
    return time.time() - t0


def cleanup_cgroups(namespace):
    """Removes the per-service cgroups orchd may have left for our (unique)
    namespace: <hierarchy>/<own path>/orchd/<namespace>/..."""
    removed = 0
    for top in glob.glob("/sys/fs/cgroup/*/") + ["/sys/fs/cgroup/"]:
        for dirpath, dirnames, _ in os.walk(top):
            depth = dirpath[len(top):].count("/")
            if depth > 6:
                dirnames[:] = []
                continue
            if dirpath.rstrip("/").endswith("/orchd/" + namespace):
                for sub in sorted(glob.glob(os.path.join(dirpath, "*/")), reverse=True):
                    procs = procfs.read(os.path.join(sub, "cgroup.procs")) or ""
                    for p in procs.split():
                        try:
                            os.kill(int(p), signal.SIGKILL)
                        except OSError:
                            pass
                    for _ in range(50):
                        try:
                            os.rmdir(sub)
                            removed += 1
                            break
                        except OSError:
                            time.sleep(0.02)
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
                dirnames[:] = []
    return removed


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


class FloorStart(Tool):
    """Reference, not a supervisor: bench/lib/floor.c forks and execs the N
    sleeps in a loop, waiting for each exec as orchd does."""
    name = "floor"
    label = "fork+exec loop (floor)"

    def __init__(self, workdir, n, logf, floor_bin, mark=MARK):
        super().__init__(workdir, n, logf, mark)
        self.bin = floor_bin
        self.loop_s = None

    def setup(self):
        pass

    def start(self):
        self.proc = subprocess.Popen([self.bin, "start", str(self.n), str(self.mark)],
                                     cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     start_new_session=True)

    def status_done(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("floor start died")
        self.loop_s = float(line)
        return True

    def supervisors(self):
        return [self.proc.pid] if self.proc else []

    def stop(self):
        try:
            self.proc.send_signal(signal.SIGTERM)
        except OSError:
            pass


class FloorRespawn(Tool):
    """Reference for restarts: floor.c respawns one sleep as soon as it dies."""
    name = "floor"
    label = "respawn loop (floor)"

    def __init__(self, workdir, n, logf, floor_bin, mark=MARK):
        super().__init__(workdir, 1, logf, mark)
        self.bin = floor_bin

    def setup(self):
        pass

    def start(self):
        self.proc = self.spawn([self.bin, "respawn", str(self.mark)])

    def status_done(self):
        return bool(procfs.find_services(self.mark, 1))

    def supervisors(self):
        return [self.proc.pid] if self.proc else []

    def stop(self):
        try:
            self.proc.kill()
            self.proc.wait()
        except OSError:
            pass
        for pid in procfs.find_services(self.mark, 1).values():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
