"""Quick start-time check against the fork+exec floor: orchd and bench/lib/floor.c
only, alternating within one run. quickstart.py ORCHD N1,N2 REPS; FLOOR=path of
floor.c built with cc -O2 (default /tmp/perfq/floor); work dirs under /tmp/perfq/w.
Not part of bench/run (used for issue 15 while the machine was loaded)."""
import os, subprocess, sys, time, statistics, signal
orchd = sys.argv[1]; ns = [int(x) for x in sys.argv[2].split(",")]; reps = int(sys.argv[3])
base = "/tmp/perfq/w"
res = {}
def orchfile(d, n, mark):
    with open(d + "/Orchfile", "w") as f:
        for i in range(n):
            f.write(f"SERVICE s{i}\nRUN exec sleep {mark+i}\nRESTART always\nRESTART_DELAY 0s\nSTART_LIMIT_BURST 0\n\n")
for rep in range(reps):
    for n in ns:
        for tool in (["orchd", "floor"] if rep % 2 == 0 else ["floor", "orchd"]):
            d = f"{base}/{tool}{n}.{rep}"; os.makedirs(d, exist_ok=True)
            mark = 700000 + n * 10 + rep * 100000
            if tool == "orchd":
                orchfile(d, n, mark)
                env = dict(os.environ, ORCH_STATE_DIR=d + "/state", ORCH_NAMESPACE=f"pq{os.getpid()}")
                t = time.monotonic()
                subprocess.run([orchd, "grow", "-f", d + "/Orchfile"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=d)
                el = time.monotonic() - t
                subprocess.run([orchd, "fell", "-f", d + "/Orchfile"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
                pass
            else:
                t = time.monotonic()
                p = subprocess.Popen([os.environ.get("FLOOR", "/tmp/perfq/floor"), "start", str(n), str(mark)], stdout=subprocess.PIPE, text=True, start_new_session=True)
                p.stdout.readline(); el = time.monotonic() - t
                p.send_signal(signal.SIGTERM); p.wait()
            res.setdefault((tool, n), []).append(el)
            time.sleep(0.3)
for n in ns:
    o = res[("orchd", n)]; f = res[("floor", n)]
    ratios = [a / b for a, b in zip(o, f)]
    print(f"N={n}: orchd {statistics.median(o)*1000:.1f} ms, floor {statistics.median(f)*1000:.1f} ms, ratio median {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
