"""``python -m gradexp.report DIR``: (re)build a sweep folder's summary, metrics, report and figures."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (2 for a bad folder or option).

    One DIR: a sweep folder (or a report folder over runs, rebuilt from its runs.csv). Several run
    folders: one report comparing them, written to ``--out``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m gradexp.report",
        description="Rebuild sweep_summary.csv, metrics.csv, report.md and the figures of a sweep folder "
                    "(outputs/multirun/<stamp>) from the files its jobs wrote. Nothing is rerun.")
    parser.add_argument("dir", metavar="DIR", nargs="+",
                        help="sweep folder holding the job folders 0/, 1/, ...; or several run folders "
                             "(outputs/runs/<stamp>) to compare in one report (written to --out)")
    parser.add_argument("--out", metavar="REPORT_DIR",
                        help="where a report over run folders goes (default outputs/reports/<stamp>)")
    parser.add_argument("--holdout", type=float, default=0.0, metavar="FRACTION",
                        help="hold out this fraction of starts (by start index): the best setting per "
                             "optimizer is chosen on the rest and scored on them (default 0: off)")
    parser.add_argument("--no-figures", action="store_true", help="write the tables and report.md only")
    parser.add_argument("--coco", action="store_true",
                        help="also write COCO's data format under DIR/coco/ (BBOB jobs), for python -m cocopp")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)

    from gradexp import startup

    startup.pause()  # no cyclic garbage collection over the imports of pandas and matplotlib
    from gradexp.errors import ConfigError
    from gradexp.report import build_report

    if not args.no_figures:
        from gradexp.report import figures

        figures.pyplot()  # matplotlib (Agg), imported while paused too
    startup.resume()

    try:
        root = _report_dir(args.dir, args.out)
        res = build_report(root, holdout=args.holdout, figures=not args.no_figures, coco=args.coco)
    except ConfigError as exc:
        print(f"gradexp.report: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"gradexp.report: {res['jobs']} jobs ({res['done']} done, {res['failed']} failed), "
              f"{res['diverged']} diverged starts; report: {res['report']}")
        print(f"gradexp.report: open {res['html']}")
        if res.get("coco"):
            print(f"gradexp.report: {res['coco']}")
    return 0


def _report_dir(dirs, out):
    """The folder the report goes to: the sweep folder, or ``out`` listing the run folders (runs.csv)."""
    from gradexp.report.runs import is_run_folder, write_run_list

    if len(dirs) == 1 and not is_run_folder(dirs[0]):
        return dirs[0]  # a sweep folder, or a report over runs being rebuilt
    import time
    from pathlib import Path

    root = Path(out) if out else Path("outputs") / "reports" / time.strftime("%Y-%m-%d_%H-%M-%S")
    write_run_list(root, dirs)
    return root


if __name__ == "__main__":
    sys.exit(main())
