"""The aggregator process of ``tgarc export``: folds events and psutil samples into
export_metrics.json, shows live progress, and recommends a worker count.

    agg = Aggregator.start(out / "export_metrics.json", progress="auto")
    agg.send(Proc(os.getpid(), "supervisor")); agg.send(Plan(...)); ...
    metrics = agg.finish(Finish("done", messages))
    agg.close()

``validate`` checks a metrics document against DESIGN.md; ``tune_report`` is ``tgarc tune``.
docs/metrics.md describes every figure and the worker-count rule.
"""

from .client import Aggregator
from .metrics import recommend, summary_lines, tune_report, validate

__all__ = ["Aggregator", "recommend", "summary_lines", "tune_report", "validate"]
