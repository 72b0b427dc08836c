"""What every run goes through: reading FER2013 (``data``), running one method under the
protocol and writing its folder (``harness``), the grid of runs on a Dask cluster (``cluster``),
and what a run measures and records on the way: metrics with their intervals, CPU time and the
machine-wide lock (``compute``), latency, memory and size (``cost``), the manifest, the
per-run confusion figure (``plots``, also the figure helpers the reports and the CNNs share),
atomic writes and the user-facing errors with their exit statuses. Nothing here imports from
``experiments.reports`` or ``experiments.tools``; the method interface and registry it runs
are ``experiments.core.method``.
"""
