"""Container benchmark: orchd against `ctr` (containerd's own client) on one
private containerd and one image (scripts/containerd-start.sh,
scripts/build-test-image.sh).

Runs only when everything it needs exists: orchd-containerd.so next to the
orchd binary, the three scripts, containerd/ctr/runc, and a probe
`orchd grow` of one container service that succeeds. Otherwise it returns
{"measured": False, "reason": ...} and RESULTS.md says so.
"""
import os
import shutil
import subprocess
import tempfile
import threading
import time

import procfs

IMAGE = "localhost/orchd-test:latest"
CTR_NS = "ctrbench"
# The container's PID 1 is a shell that exits on SIGTERM (a bare `sleep` as
# PID 1 ignores SIGTERM, so every graceful stop would wait out its timeout).
SCRIPT = 'trap "exit 0" TERM; sleep 100000 & wait'
ARGV = ["sh", "-c", SCRIPT]
CMD = "sh -c '%s'" % SCRIPT


class Skip(Exception):
    pass


def sh(argv, timeout=120, env=None, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise Skip("%s failed (%d): %s" % (" ".join(argv[:3]), r.returncode,
                                           (r.stderr or r.stdout).strip()[-400:]))
    return r


def timed(argv, env=None, timeout=120):
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, env=env)
    return time.perf_counter() - t0, r


class Ctr:
    def __init__(self, sock, snap, ns=CTR_NS):
        self.base = ["ctr", "-a", sock, "-n", ns]
        self.snap = snap

    def run_d(self, cid):
        return self.base + ["run", "-d", "--snapshotter", self.snap, IMAGE, cid] + ARGV

    def teardown(self, cid):
        """task kill (SIGTERM, as orchd sends), task rm (retried until the
        task has stopped), container rm (which also removes its snapshot)."""
        subprocess.run(self.base + ["tasks", "kill", cid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2000):
            r = subprocess.run(self.base + ["tasks", "rm", cid], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                break
            time.sleep(0.002)
        subprocess.run(self.base + ["containers", "rm", cid], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def running(self):
        r = subprocess.run(self.base + ["tasks", "ls"], stdout=subprocess.PIPE, text=True)
        return {l.split()[0] for l in r.stdout.splitlines()[1:] if "RUNNING" in l}

    def containers(self):
        r = subprocess.run(self.base + ["containers", "ls", "-q"], stdout=subprocess.PIPE, text=True)
        return set(r.stdout.split())


def parallel(fns):
    ths = [threading.Thread(target=f) for f in fns]
    t0 = time.perf_counter()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return time.perf_counter() - t0


def run(repo, orchd, workroot, log, reps1=5, reps20=3, namespace="benchctd"):
    res = {"measured": False}
    so = os.path.join(os.path.dirname(orchd), "orchd-containerd.so")
    scripts = [os.path.join(repo, "scripts", s) for s in
               ("containerd-start.sh", "containerd-stop.sh", "build-test-image.sh")]
    missing = [p for p in [so] + scripts if not os.path.exists(p)]
    missing += [b for b in ("containerd", "ctr", "runc") if not shutil.which(b)]
    if missing:
        res["reason"] = "missing: " + ", ".join(missing)
        return res

    # Short path: containerd's socket path (+".ttrpc") must fit sun_path.
    cdir = tempfile.mkdtemp(prefix="obc.", dir="/tmp")
    # bench/run's trap stops it too if we are killed before `finally` runs.
    with open(os.path.join(workroot, "containerd-dirs"), "a") as f:
        f.write(cdir + "\n")
    env = None
    try:
        try:
            sock = sh([scripts[0], cdir], timeout=60).stdout.strip().splitlines()[-1]
            snap = open(os.path.join(cdir, "snapshotter")).read().strip()
            img = os.path.join(cdir, "img.tar")
            sh([scripts[2], img, IMAGE])
            for ns in (CTR_NS, namespace):
                sh(["ctr", "-a", sock, "-n", ns, "images", "import", "--snapshotter", snap, img])
        except Skip as e:
            res["reason"] = "private containerd or test image: %s" % e
            return res
        res["snapshotter"] = snap
        ctr = Ctr(sock, snap)
        octr = Ctr(sock, snap, namespace)

        wd = os.path.join(workroot, "containers")
        os.makedirs(wd, exist_ok=True)
        state = os.path.join(wd, "state")
        orchfile = os.path.join(wd, "Orchfile")
        with open(orchfile, "w") as f:
            f.write("ORCH_VERSION 0.2.1\n\nSERVICE anchor\nRUN exec sleep 71999990\n\n")
            for i in range(20):
                f.write("SERVICE c%d\nFROM %s\nCMD %s\nRESTART always\n\n" % (i, IMAGE, CMD))
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
        env.update(HOME=wd, ORCH_STATE_DIR=state, ORCH_NAMESPACE=namespace,
                   ORCH_CONTAINERD_SOCKET=sock, ORCH_SNAPSHOTTER=snap,
                   CONTAINERD_SNAPSHOTTER=snap)
        o = lambda verb, *svc: [orchd, verb, "-f", orchfile] + list(svc)
        names = ["c%d" % i for i in range(20)]

        def cid(s):
            return "%s-%s" % (namespace, s)

        def daemon_pid():
            raw = procfs.read(os.path.join(state, "orchd.lock"))
            try:
                return int(raw.strip())
            except (ValueError, AttributeError):
                return None

        # Probe: one container through orchd, start to finish.
        sh(o("grow", "anchor"), env=env)
        dt, r = timed(o("grow", "c0"), env=env, timeout=90)
        if r.returncode != 0:
            res["reason"] = "orchd could not run a container: `orchd grow c0` exited %d: %s" % (
                r.returncode, (r.stderr or r.stdout).strip()[-400:])
            return res
        if cid("c0") not in octr.running():
            res["reason"] = "orchd grow c0 returned 0 but containerd shows no running task %s" % cid("c0")
            return res
        sh(o("fell", "c0"), env=env)
        res["probe_grow_s"] = dt

        one = {"ctr_run": [], "ctr_teardown": [], "orchd_grow": [], "orchd_fell": [],
               "orchd_grow_cold": []}
        for rep in range(reps1):
            t, r = timed(ctr.run_d("one"))
            if r.returncode != 0 or "one" not in ctr.running():
                raise Skip("ctr run -d failed: %s" % r.stderr.strip())
            one["ctr_run"].append(t)
            t0 = time.perf_counter()
            ctr.teardown("one")
            one["ctr_teardown"].append(time.perf_counter() - t0)

            t, r = timed(o("grow", "c0"), env=env)
            ok = r.returncode == 0 and cid("c0") in octr.running()
            one["orchd_grow"].append(t if ok else None)
            t, r = timed(o("fell", "c0"), env=env)
            gone = cid("c0") not in octr.containers()
            one["orchd_fell"].append(t if r.returncode == 0 and gone else None)

            # Cold: no daemon; `grow` starts it, it loads the module and
            # connects to containerd, then runs the container.
            sh(o("fell"), env=env)
            t, r = timed(o("grow", "c0"), env=env)
            ok = r.returncode == 0 and cid("c0") in octr.running()
            one["orchd_grow_cold"].append(t if ok else None)
            sh(o("fell", "c0"), env=env)
            sh(o("grow", "anchor"), env=env)
        res["one"] = one

        twenty = {"ctr_run": [], "ctr_run_seq": [], "ctr_teardown": [], "orchd_grow": [],
                  "orchd_fell": [], "orchd_rss_kb": [], "orchd_pss_kb": [], "orchd_threads": []}
        ids = ["m%d" % i for i in range(20)]
        for rep in range(reps20):
            t = parallel([lambda c=c: subprocess.run(ctr.run_d(c), stdout=subprocess.DEVNULL,
                                                       stderr=subprocess.DEVNULL)
                          for c in ids])
            if len(ctr.running() & set(ids)) != 20:
                raise Skip("ctr: not all 20 containers running")
            twenty["ctr_run"].append(t)
            twenty["ctr_teardown"].append(parallel([lambda c=c: ctr.teardown(c) for c in ids]))

            t0 = time.perf_counter()
            for c in ids:
                subprocess.run(ctr.run_d(c), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            twenty["ctr_run_seq"].append(time.perf_counter() - t0)
            parallel([lambda c=c: ctr.teardown(c) for c in ids])

            t, r = timed(o("grow", *names), env=env, timeout=180)
            ok = r.returncode == 0 and len(octr.running() & {cid(s) for s in names}) == 20
            twenty["orchd_grow"].append(t if ok else None)
            time.sleep(0.5)
            p = daemon_pid()
            rss, pss = procfs.memory([p]) if p else (None, None)
            twenty["orchd_rss_kb"].append(rss)
            twenty["orchd_pss_kb"].append(pss)
            twenty["orchd_threads"].append(procfs.threads(p) if p else None)
            t, r = timed(o("fell", *names), env=env, timeout=180)
            gone = not (octr.containers() & {cid(s) for s in names})
            twenty["orchd_fell"].append(t if r.returncode == 0 and gone else None)
        res["twenty"] = twenty
        res["measured"] = True
        return res
    except Skip as e:
        res["reason"] = str(e)
        return res
    except subprocess.TimeoutExpired as e:
        res["reason"] = "timed out: %s" % " ".join(e.cmd[:4])
        return res
    finally:
        if env is not None:
            subprocess.run([orchd, "fell", "-f", os.path.join(workroot, "containers", "Orchfile")],
                           env=env, stdout=log, stderr=log, timeout=120)
        subprocess.run([scripts[1], cdir], stdout=log, stderr=log, timeout=120)
        shutil.rmtree(cdir, ignore_errors=True)
