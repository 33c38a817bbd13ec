"""gradexp: a config-driven lab for gradient-based optimizers on analytic test functions.

``gradexp.run(cfg)`` runs one composed config and returns ``(trace, summary)`` DataFrames.
Heavy libraries (torch, pandas, matplotlib) are imported only when a run needs them.
"""

from gradexp._version import __version__

__all__ = ["run", "__version__"]


def run(cfg, out_dir=None):
    """Run one composed config; return ``(trace, summary)`` as pandas DataFrames.

    ``cfg`` is a composed config (``hydra.compose`` or the ``@hydra.main`` one). When
    ``out_dir`` is given, the run's CSVs, plots and provenance are written there too (each file
    atomically; an interrupted run writes the starts so far, then raises ``KeyboardInterrupt``).
    """
    from gradexp.runner import execute

    done = execute(cfg)
    if out_dir is not None:
        from gradexp.rundir import write_run

        write_run(out_dir, cfg, done.problem, done.trace, done.summary, done.cls, done.kwargs, done.maximize,
                  done.f_opt, status="interrupted" if done.interrupted else "complete", t_start=done.t_start)
    if done.interrupted:  # (after the starts so far were written)
        raise KeyboardInterrupt
    return done.trace, done.summary
