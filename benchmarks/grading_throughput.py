"""Grading throughput: how many submissions ``cnn-grade batch`` grades per minute, and the
memory each grading job needs.

    flock /tmp/nbexec.lock python benchmarks/grading_throughput.py          # the full run
    flock /tmp/nbexec.lock python benchmarks/grading_throughput.py --smoke  # 2 of exercise 1
    python benchmarks/grading_throughput.py --exercises 01_convolution --submissions 4 --jobs 1 2 4

For each exercise (default: 01_convolution, a light one, and 05_anatomy, which trains
Keras models) and each number of parallel jobs (default 1 and 2), a fresh course folder of
``--submissions`` students (alternately a copy of the reference solution and of the blank
starter, so that both a full run and an early stop are in the mix) is graded from scratch
with :func:`cnn_helpers.grading.batch.grade_folder` (``resume=False``), exactly as
``cnn-grade batch --jobs N`` does: one worker process per submission, the notebook run in
the sandbox at smoke size.

Measured per configuration:

* wall time and **submissions per minute** (students / wall time);
* **peak memory per job**: a sampler reads ``/proc`` every 0.2 s and sums the resident
  memory of each worker's whole process tree (worker, sandbox, papermill, kernel); the
  largest such sum over the run, and the mean of the workers' peaks;
* the peak of all jobs together (what ``--jobs N`` needs of the machine);
* ``ru_maxrss`` as the workers report it (their own, and their largest child's: usually
  the kernel), and ``RUSAGE_CHILDREN`` of this process (largest single process so far);
* whether the scores came out right (solutions full marks, starters 0).

It writes ``benchmarks/results/grading_throughput_<machine>.json`` (``_smoke`` added for
``--smoke``) with the machine (CPU model, cores, memory), the sandbox, the settings and the
figures. Run it alone on the machine (``flock /tmp/nbexec.lock``): other work running at
the same time changes the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

DEFAULTS = {"exercises": ["01_convolution", "05_anatomy"], "submissions": 8, "jobs": [1, 2]}
SMOKE = {"exercises": ["01_convolution"], "submissions": 2, "jobs": [1, 2]}


# --------------------------------------------------------------------------- memory


def _proc_table() -> dict[int, tuple[int, int]]:
    """Every process: pid -> (parent pid, resident bytes)."""
    page = os.sysconf("SC_PAGE_SIZE")
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry.name}/statm", encoding="utf-8") as fh:
                rss = int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (ppid, rss)
    return table


class MemorySampler(threading.Thread):
    """Peak resident memory of each child process tree of this process (one per job)."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.done = threading.Event()
        self.peaks: dict[int, int] = {}
        self.peak_all = 0

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        table = _proc_table()
        children: dict[int, list[int]] = defaultdict(list)
        for pid, (ppid, _) in table.items():
            children[ppid].append(pid)
        total = 0
        for worker in children.get(os.getpid(), []):
            stack, rss = [worker], 0
            while stack:
                pid = stack.pop()
                rss += table[pid][1]
                stack += children.get(pid, [])
            self.peaks[worker] = max(self.peaks.get(worker, 0), rss)
            total += rss
        self.peak_all = max(self.peak_all, total)

    def stop(self) -> None:
        self.done.set()
        self.join()


# --------------------------------------------------------------------------- one configuration


def _roster(folder: Path, exercise: str, n: int) -> dict[str, bool]:
    """``n`` students, alternately the solution and the starter; student -> is a solution."""
    solution = REPO / "exercises" / "solutions" / f"{exercise}.ipynb"
    starter = REPO / "exercises" / f"{exercise}.ipynb"
    folder.mkdir(parents=True)
    kinds = {}
    for i in range(n):
        name = f"student_{i:03d}"
        kinds[name] = i % 2 == 0
        (folder / f"{name}.ipynb").write_bytes((solution if kinds[name] else starter).read_bytes())
    return kinds


def _mb(n_bytes: float) -> float:
    return round(n_bytes / 2 ** 20, 1)


def measure(exercise: str, jobs: int, n: int, allow_unsandboxed: bool) -> dict[str, Any]:
    """Grade ``n`` submissions of ``exercise`` with ``jobs`` workers; the figures."""
    from cnn_helpers.grading.batch import grade_folder

    with tempfile.TemporaryDirectory(prefix="grading-throughput-") as tmp:
        kinds = _roster(Path(tmp) / "submissions", exercise, n)
        sampler = MemorySampler()
        sampler.start()
        t0 = time.perf_counter()
        try:
            summary = grade_folder(Path(tmp) / "submissions", Path(tmp) / "out", jobs=jobs,
                                   exercise=exercise, resume=False,
                                   allow_unsandboxed=allow_unsandboxed)
        finally:
            wall = time.perf_counter() - t0
            sampler.stop()
    right = all((r.report.score == r.report.max_score > 0) if kinds[r.student]
                else r.report.score == 0 for r in summary.rows)
    reported = [r.record.get("maxrss_mb", {}) for r in summary.rows]
    peaks = list(sampler.peaks.values())
    return {
        "exercise": exercise, "jobs": jobs, "submissions": n, "wall_s": round(wall, 1),
        "submissions_per_minute": round(60 * n / wall, 2),
        "seconds_per_submission": [round(r.record.get("seconds", 0), 1) for r in summary.rows],
        "peak_rss_mb_per_job": _mb(max(peaks, default=0)),
        "mean_peak_rss_mb_per_job": _mb(sum(peaks) / len(peaks)) if peaks else None,
        "peak_rss_mb_all_jobs": _mb(sampler.peak_all),
        "worker_ru_maxrss_mb": {key: max((m.get(key, 0) for m in reported), default=None)
                                for key in ("worker", "largest_child")},
        "children_ru_maxrss_mb_so_far": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "grader_failures": summary.count("failed"),
        "scores_as_expected": right,
    }


# --------------------------------------------------------------------------- the report


def machine() -> dict[str, Any]:
    from cnn_helpers import runtime

    mem_gib = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kib = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
        mem_gib = round(kib / 2 ** 20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    device = f"CPU: {runtime._cpu_name()} ({os.cpu_count()} cores)"
    return {"device": device, "cpu": runtime._cpu_name(), "cpu_cores": os.cpu_count(),
            "memory_gib": mem_gib, "python": platform.python_version(),
            "os": platform.platform()}


def _sandbox(allow_unsandboxed: bool) -> str:
    from cnn_helpers.grading.sandbox import SandboxUnavailable, find_sandbox

    try:
        return find_sandbox().kind
    except SandboxUnavailable as exc:
        if not allow_unsandboxed:
            raise SystemExit(f"grading_throughput.py: {exc} (or pass --allow-unsandboxed)") from None
        return "none"


def _speedups(results: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for r in results:
        base = next((b for b in results if b["exercise"] == r["exercise"] and b["jobs"] == 1), None)
        if base and r["jobs"] != 1:
            out[f"{r['exercise']}_jobs{r['jobs']}_vs_jobs1"] = round(
                r["submissions_per_minute"] / base["submissions_per_minute"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exercises", nargs="+", default=None)
    parser.add_argument("--submissions", type=int, default=None, help="students per exercise")
    parser.add_argument("--jobs", type=int, nargs="+", default=None)
    parser.add_argument("--smoke", action="store_true", help="2 submissions of exercise 1")
    parser.add_argument("--allow-unsandboxed", action="store_true")
    parser.add_argument("--output-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    base = SMOKE if args.smoke else DEFAULTS
    exercises = args.exercises or base["exercises"]
    n = args.submissions or base["submissions"]
    jobs = args.jobs or base["jobs"]
    env = machine()
    sandbox = _sandbox(args.allow_unsandboxed)
    results = []
    for exercise in exercises:
        for j in jobs:
            print(f"{exercise}: {n} submissions with --jobs {j} ...", flush=True)
            results.append(measure(exercise, j, n, args.allow_unsandboxed))
            r = results[-1]
            print(f"  {r['submissions_per_minute']} submissions/min, peak {r['peak_rss_mb_per_job']} "
                  f"MB per job, {r['peak_rss_mb_all_jobs']} MB all jobs, scores right: "
                  f"{r['scores_as_expected']}", flush=True)
    slug = re.sub(r"[^a-z0-9]+", "-", env["device"].lower()).strip("-")[:40]
    path = args.output_dir / f"grading_throughput_{slug}{'_smoke' if args.smoke else ''}.json"
    report = {"benchmark": "cnn-grade batch throughput",
              "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
              "environment": {**env, "sandbox": sandbox}, "smoke": args.smoke,
              "settings": {"exercises": exercises, "submissions_per_exercise": n, "jobs": jobs,
                           "mix": "alternately the reference solution and the blank starter"},
              "results": results, "speedup": _speedups(results)}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0 if all(r["scores_as_expected"] and not r["grader_failures"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
