"""``python -m gradexp.reproduce DIR``: rerun a run or sweep folder and compare its CSVs byte for byte.

Exit status: 0 identical, 1 different, 2 not a gradexp folder, unreadable, or a refused import.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_SAME, EXIT_DIFFERENT, EXIT_BAD = 0, 1, 2
PROG = "gradexp.reproduce"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gradexp.reproduce",
        description="Rerun a run folder, a sweep folder or a report over separate runs (runs.csv) from the "
                    "recorded configs (.hydra/config.yaml) into a new folder and compare trace.csv and "
                    "summary.csv (a sweep or a report: every job's, plus metrics.csv and sweep_summary.csv) "
                    "byte for byte. DIR is only read. Exit 0 identical, 1 different, 2 not a gradexp folder "
                    "or a refused import.")
    p.add_argument("dir", metavar="DIR", help="run folder (outputs/runs/<stamp>), sweep folder "
                                              "(outputs/multirun/<stamp>) or report folder of separate runs "
                                              "(outputs/reports/<name>, with runs.csv)")
    p.add_argument("--out", metavar="NEW", help="folder for the rerun (new or empty; default "
                                                "outputs/reproduce/<stamp>_<name of DIR>)")
    p.add_argument("--allow", metavar="MODULE", action="append", default=[],
                   help="also allow import paths under MODULE (repeatable; gradexp and torch.optim are "
                        "always allowed). Importing a module runs its code: allow only what you trust")
    return p


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_BAD


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    from gradexp.errors import ConfigError
    from gradexp import reproduce as R

    try:
        folder = R.read_folder(args.dir)
        out = Path(args.out) if args.out else R.default_out(folder)
        R.check_out(folder, out)
        imports = R.check_imports(folder, args.allow)
    except ConfigError as exc:
        return _error(str(exc))
    n = len(folder.jobs)
    what = "report over separate runs" if folder.kind == "runs" else f"{folder.kind} folder"
    print(f"{PROG}: {what} {folder.path} ({n} job{'s' * (n != 1)}); imports "
          + (", ".join(imports) or "nothing"))
    print(f"{PROG}: rerunning into {out}", flush=True)
    try:
        R.rerun(folder, out, report=lambda line: print(f"{PROG}: {line}", flush=True))
    except ConfigError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; the partial rerun is in {out}", file=sys.stderr)
        return 130
    return _verdict(R, folder, out)


def _verdict(R, folder, out) -> int:
    from gradexp import facts
    from gradexp.reproduce.diff import fact_differences

    results = R.compare(folder, out)
    for name, diff in results:
        print(f"{name}: {'identical' if diff is None else 'different'}")
    first = next((d for _, d in results if d is not None), None)
    changed = fact_differences(R.recorded_facts(folder), facts.current())
    if first is None:
        print(f"{PROG}: identical ({len(results)} files); the rerun is in {out}")
        return EXIT_SAME
    print(first.describe())
    if changed:
        print("recorded facts that differ now: " + "; ".join(changed))
    else:
        print("recorded facts: the same now (gradexp, torch, numpy, python, threads, platform, git commit, "
              "dirty tree)")
    print(f"{PROG}: DIFFERENT ({sum(d is not None for _, d in results)} of {len(results)} files, first "
          f"{first.file}); the rerun is in {out}")
    return EXIT_DIFFERENT


if __name__ == "__main__":
    sys.exit(main())
