"""Kernel timestamps for restart latency.

A private tracefs instance records every SIGKILL sent (signal:signal_generate)
and every exec (sched:sched_process_exec). A restart is then timed from the
moment the kernel took the kill to the moment the new service process exec'd
its program, both stamped by the same kernel clock, with nothing spinning
next to the supervisors. The older method (still the fallback when there is
no tracefs) spun on /proc/PARENT/task/*/children and read each new child's
command line: on a 2-core machine the spinner took one of the cores, and a
read of the command line of orchd's CLONE_VM child goes through the daemon's
own address space while the child is still in it."""
import os
import re

ROOTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
LINE = re.compile(r"\s(\d+\.\d+): (signal_generate|sched_process_exec): (.*)$")
FIELD = re.compile(r"(\w+)=(\S+)")


def remove_stale(prefix):
    """Removes trace instances named prefix* (a bench run killed before its
    own clean-up)."""
    for root in ROOTS:
        inst = os.path.join(root, "instances")
        if not os.path.isdir(inst):
            continue
        for name in os.listdir(inst):
            if name.startswith(prefix):
                _remove_instance(os.path.join(inst, name))


def available():
    return any(os.path.isdir(os.path.join(r, "instances")) for r in ROOTS)


class ExecTrace:
    def __init__(self, name):
        root = next((r for r in ROOTS if os.path.isdir(os.path.join(r, "instances"))), None)
        if root is None:
            raise OSError("no tracefs with instances under %s" % " or ".join(ROOTS))
        self.dir = os.path.join(root, "instances", name)
        os.mkdir(self.dir)
        try:
            self._write("events/signal/signal_generate/filter", "sig == 9")
            self._write("events/signal/signal_generate/enable", "1")
            self._write("events/sched/sched_process_exec/enable", "1")
            self._write("tracing_on", "1")
        except OSError:
            self.close()
            raise

    def _write(self, rel, value):
        with open(os.path.join(self.dir, rel), "w") as f:
            f.write(value)

    def clear(self):
        self._write("trace", "")

    def events(self):
        """[(seconds, kind, {field: value})] in the buffer, oldest first."""
        out = []
        with open(os.path.join(self.dir, "trace")) as f:
            for line in f:
                m = LINE.search(line)
                if m:
                    out.append((float(m.group(1)), m.group(2), dict(FIELD.findall(m.group(3)))))
        return out

    def close(self):
        _remove_instance(self.dir)


def _remove_instance(path):
    """Turns the instance's events off and removes it; what is gone already
    is fine."""
    for rel in ("events/signal/signal_generate/enable", "events/sched/sched_process_exec/enable"):
        try:
            with open(os.path.join(path, rel), "w") as f:
                f.write("0")
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def restart_ms(events, killed_pid, is_service):
    """Milliseconds from the SIGKILL of killed_pid to the first exec after it
    that is_service(pid, filename) accepts; None if not (yet) in events."""
    t_kill = None
    for ts, kind, f in events:
        if t_kill is None:
            if kind == "signal_generate" and f.get("pid") == str(killed_pid):
                t_kill = ts
            continue
        if kind == "sched_process_exec" and is_service(int(f.get("pid", "0")), f.get("filename", "")):
            return (ts - t_kill) * 1000.0
    return None
