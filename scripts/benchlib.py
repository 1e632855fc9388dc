"""Helpers shared by the benchmark scripts (bench_collector, bench_push, bench_chat).

They read /proc directly instead of depending on psutil, so the benchmarks need nothing
beyond the project's own packages; and they stop whole process trees, because a benchmark
that leaves a uvicorn worker or redis-server behind disturbs the next measurement.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys
from pathlib import Path

from backend.testing.servers import RedisServer, WebServer

CLK_TCK = os.sysconf("SC_CLK_TCK")
ADMIN = "bench-admin-token"


class BenchError(RuntimeError):
    """A measurement that cannot be trusted (errors, missing data): the run fails."""


def say(msg: str) -> None:
    """Print at once, so progress shows while a long phase runs (also when piped)."""
    print(msg, flush=True)


# --------------------------------------------------------------------------- /proc


def proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat from field 3 (state) on, split after the command name, which may hold
    spaces and parentheses; None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """All processes below ``root`` (uvicorn --workers N forks), so they can be measured
    and killed even when their parent no longer is."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = proc_stat(int(entry))
            if st:
                children.setdefault(int(st[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (0 when it is gone)."""
    st = proc_stat(pid)
    return (int(st[11]) + int(st[12])) / CLK_TCK if st else 0.0


def machine_busy() -> float:
    """CPU seconds used on the whole machine (all cores) plus time a hypervisor took away,
    from /proc/stat; interrupts (which loopback traffic causes) left out. What the
    benchmark's own processes did not use of it is other work disturbing the measurement."""
    try:
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = (
            int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        )
    except (OSError, ValueError):
        return 0.0
    return (user + nice + system + steal) / CLK_TCK


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE (before the servers start, so they inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft, hard
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return needed, needed
        except (ValueError, OSError):
            raise BenchError(
                f"need {needed} file descriptors, the hard limit is {hard} (raise it with ulimit -Hn as root)"
            ) from None
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed, hard


# --------------------------------------------------------------------------- servers


class PrivateRedis(RedisServer):
    """RedisServer that does not leave its process behind when it fails to come up or stop."""

    def __init__(self) -> None:
        try:
            super().__init__()
        except BaseException:
            if getattr(self, "proc", None):
                self.proc.kill()
                self.proc.wait()
            raise

    def stop(self) -> None:
        try:
            super().stop()
        except Exception:  # noqa: BLE001 - it must end, whatever state it is in
            self.proc.kill()
            self.proc.wait()


class TreeServer(WebServer):
    """WebServer that stops its whole process tree (uvicorn --workers N forks) and removes
    its log; when it fails to come up it prints the log's tail and cleans up the same way."""

    def __init__(self, factory: str, env: dict[str, str], workers: int = 1, port: int | None = None) -> None:
        self.stopped = False
        try:
            super().__init__(factory, env, workers=workers, port=port)
        except BaseException:
            if getattr(self, "proc", None):
                print(self.output()[-3000:], file=sys.stderr)
                self.stop()
            raise

    def pids(self) -> list[int]:
        """uvicorn and every process below it."""
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        tree = descendants(self.proc.pid)
        try:
            super().stop()
        finally:
            for pid in tree:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.unlink(self.log.name)


def server_env(redis_url: str, secret: str, public_url: str, ip_per_min: int) -> dict[str, str]:
    """The backend's settings for a benchmark server; rate limits raised so that nothing is
    throttled by the benchmark's own traffic."""
    return {
        "BECKON_REDIS_URL": redis_url,
        "BECKON_ADMIN_TOKEN": ADMIN,
        "BECKON_SECRET_KEY": secret,
        "BECKON_PUBLIC_URL": public_url,
        "BECKON_RATE_VISITOR_PER_MIN": "100000",
        "BECKON_RATE_IP_PER_MIN": str(ip_per_min),
    }


# --------------------------------------------------------------------------- statistics, charts


def pct(values: list[float], p: float) -> float:
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def chart(title: str, rows: list[tuple[str, float]], unit: str, width: int = 50,
          goal: float | None = None, fmt: str = "{:,.1f}") -> str:
    """Horizontal ASCII bars on one scale, readable in a terminal and in a markdown code
    block; a goal is drawn as its own row and as ':' marks."""
    values = [v for _, v in rows if v == v] + ([goal] if goal else [])
    top = max(values + [1e-9])
    label_w = max(len(label) for label, _ in rows + ([("goal", 0.0)] if goal else []))
    goal_col = round(goal / top * width) if goal else None
    lines = [title]
    for label, value in rows + ([("goal", goal)] if goal else []):
        n = 0 if value != value else round(value / top * width)
        bar = ("=" if label == "goal" else "#") * n
        if goal_col is not None and label != "goal":
            bar = bar.ljust(width)
            if goal_col < width and bar[goal_col] == " ":
                bar = bar[:goal_col] + ":" + bar[goal_col + 1 :]
            bar = bar.rstrip()
        shown = "n/a" if value != value else fmt.format(value)
        lines.append(f"  {label.ljust(label_w)} |{bar.ljust(width)}| {shown} {unit}")
    return "\n".join(lines)
