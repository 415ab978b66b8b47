"""How fast does day6 grade a class? 30 generated submissions x 5 exercises, 2 workers.

The batch mixes 10 copies of the reference solutions, 10 untouched stubs and 10 broken submissions
(an overflow for huge attempts, a wrong table row, a renamed method, a syntax error, one infinite
loop that runs into the deadline, noisy prints, which cost nothing). Every (student, exercise) job
is a fresh sandboxed process, so the cost is dominated by interpreter start-up; the peers below put
each layer's cost in proportion:

* bare start: ``python -I -S -B -c pass`` as the sandbox user (the floor for any subprocess design);
* empty job: the runner with confinement (rlimits, Landlock, seccomp) and no checks;
* full job: one exercise (the solution of ex01) with all its visible and hidden checks.

Run: ``.venv/bin/python benchmarks/grading_speed.py [--quick]``. Target: the batch in < 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from day6.grading._spec import EXERCISES
from day6.grading.grader import Grader, discover_submissions
from day6.grading.sandbox import Job, SandboxError, SandboxPolicy

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
STUBS = ROOT / "exercises"
HIDDEN = ROOT / "grading" / "hidden"

BREAKAGES = [
    (
        "ex01",
        "elif attempt - 1 >= math.log2(max_delay / base_delay):",
        "elif False:  # the overflow guard removed",
    ),
    ("ex02", "if status in (503, 529):", "if status == 503:"),
    ("ex03", "def record_success(self)", "def record_succes(self)"),
    (
        "ex04",
        "def try_acquire(self, tokens: float = 1.0) -> bool:",
        "def try_acquire(self, tokens: float = 1.0) -> bool\n",
    ),
    (
        "ex05",
        "    for attempt in range(1, attempts + 1):",
        "    print('debug ' * 50)\n    for attempt in range(1, attempts + 1):",
    ),
]


def make_class(folder: Path) -> int:
    """Write 30 submissions into ``folder``; return how many contain a deliberate infinite loop."""
    for i in range(10):
        shutil.copytree(SOLUTIONS, folder / f"solved_{i:02d}")
        shutil.copytree(STUBS, folder / f"stub_{i:02d}")
        broken = folder / f"broken_{i:02d}"
        shutil.copytree(SOLUTIONS, broken)
        exercise, old, new = BREAKAGES[i % len(BREAKAGES)]
        path = broken / f"{EXERCISES[exercise]}.py"
        path.write_text(path.read_text().replace(old, new))
    hang = folder / "broken_09" / "ex02_classify.py"
    hang.write_text(
        hang.read_text().replace("    lowered = {", "    while True:\n        pass\n    lowered = {")
    )
    return 1


def mean_ms(samples: list[float]) -> float:
    return 1000 * statistics.fmean(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions of the per-job peers")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="per-job deadline (the hanging job waits this long)"
    )
    args = parser.parse_args()
    reps = 5 if args.quick else 15

    policy = SandboxPolicy(timeout=args.timeout, check_timeout=min(2.0, args.timeout))
    try:
        grader = Grader(policy=policy, solutions_dir=SOLUTIONS, hidden_dir=HIDDEN, workers=args.workers)
        isolation = grader.prepare()
    except SandboxError as exc:
        print(f"NOTE: strict isolation unavailable here ({exc}); measuring best-effort isolation")
        policy = SandboxPolicy(
            timeout=args.timeout, check_timeout=min(2.0, args.timeout), isolation="best_effort"
        )
        grader = Grader(policy=policy, solutions_dir=SOLUTIONS, hidden_dir=HIDDEN, workers=args.workers)
        isolation = grader.prepare()
    sandbox = grader.sandbox

    # Peer 1: bare interpreter start as the sandbox user.
    ids = {}
    if os.geteuid() == 0 and isolation.uid != 0:
        ids = {"user": isolation.uid, "group": isolation.uid, "extra_groups": []}
    bare = []
    for _ in range(reps):
        start = time.perf_counter()
        subprocess.run([isolation.python, "-I", "-S", "-B", "-c", "pass"], check=True, cwd="/", **ids)
        bare.append(time.perf_counter() - start)
    # Peer 2: the runner, confined, no checks.
    empty = []
    for _ in range(reps):
        start = time.perf_counter()
        sandbox.run(Job(module="ex01_retry", source=b"", check_ids=[]))
        empty.append(time.perf_counter() - start)
    # Peer 3: one full exercise job.
    suite = grader.suites["ex01"]
    source = (SOLUTIONS / "ex01_retry.py").read_bytes()
    full = []
    for _ in range(reps):
        start = time.perf_counter()
        result = grader.grade_exercise("bench", "ex01", source)
        full.append(time.perf_counter() - start)
        assert result.status == "passed", result

    with tempfile.TemporaryDirectory(prefix="day6-bench-") as tmp:
        folder = Path(tmp)
        hangs = make_class(folder)
        submissions = discover_submissions(folder)
        start = time.perf_counter()
        results = grader.grade(submissions)
        wall = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    solved = [sum(r.points for r in results if r.student == s.student) for s in submissions]

    base = mean_ms(bare)
    print(f"sandbox: {isolation.describe()}")
    print(f"python {sys.version.split()[0]} (grader), {os.cpu_count()} CPUs, {reps} repetitions per peer\n")
    print("| per job | mean ms | ns/call | x bare start |")
    print("|---|---:|---:|---:|")
    for name, samples in (
        ("bare interpreter start (`-I -S -B -c pass`)", bare),
        ("empty job (runner + rlimits + Landlock + seccomp)", empty),
        (f"full job: ex01 solution, {len(suite.checks)} checks", full),
    ):
        ms = mean_ms(samples)
        print(f"| {name} | {ms:.1f} | {ms * 1e6:,.0f} | {ms / base:.2f} |")
    jobs = len(results)
    print()
    print("| batch | submissions | jobs | workers | wall s | jobs/s | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print(
        f"| 10 solved + 10 stubs + 10 broken ({hangs} hang to the {args.timeout:g} s deadline) | "
        f"{len(submissions)} | {jobs} | {args.workers} | {wall:.1f} | {jobs / wall:.1f} | "
        f"{'OK' if wall < 60 else 'MISSED'} (< 60 s) |"
    )
    print("\nstatuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    by_kind: dict[str, set[float]] = {}
    for submission, total in zip(submissions, solved, strict=True):
        by_kind.setdefault(submission.student.split("_")[0], set()).add(total)
    kinds = ", ".join(f"{k} {sorted(round(t, 2) for t in v)}" for k, v in sorted(by_kind.items()))
    print(f"totals (points out of 100) by kind: {kinds}")
    grader.sandbox.close()
    return 0 if wall < 60 else 1


if __name__ == "__main__":
    raise SystemExit(main())
