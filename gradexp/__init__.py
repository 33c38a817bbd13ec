"""gradexp: a config-driven lab for gradient-based optimizers on analytic test functions.

``gradexp.run(cfg)`` runs one composed config and returns ``(trace, summary)`` DataFrames.
Heavy libraries (torch, pandas, matplotlib) are imported only when a run needs them.
"""

__version__ = "0.1.0"

__all__ = ["run", "__version__"]


def run(cfg, out_dir=None):
    """Run one composed config; return ``(trace, summary)`` as pandas DataFrames.

    ``cfg`` is a composed config (``hydra.compose`` or the ``@hydra.main`` one). When
    ``out_dir`` is given, the run's CSVs, plots and provenance are written there too.
    """
    from gradexp.runner import run as _run

    return _run(cfg, out_dir=out_dir)
