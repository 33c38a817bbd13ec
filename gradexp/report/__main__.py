"""``python -m gradexp.report DIR``: (re)build a sweep folder's summary, metrics, report and figures."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status (2 for a bad folder or option)."""
    parser = argparse.ArgumentParser(
        prog="python -m gradexp.report",
        description="Rebuild sweep_summary.csv, metrics.csv, report.md and the figures of a sweep folder "
                    "(outputs/multirun/<stamp>) from the files its jobs wrote. Nothing is rerun.")
    parser.add_argument("dir", metavar="DIR", help="sweep folder holding the job folders 0/, 1/, ...")
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
        res = build_report(args.dir, holdout=args.holdout, figures=not args.no_figures, coco=args.coco)
    except ConfigError as exc:
        print(f"gradexp.report: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"gradexp.report: {res['jobs']} jobs ({res['done']} done, {res['failed']} failed), "
              f"{res['diverged']} diverged starts; report: {res['report']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
