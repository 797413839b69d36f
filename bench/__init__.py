"""Benchmark suite for livecam-widget (issue 4). Run it with ``python -m bench`` from the repo root; see
docs/benchmarks.md.

One module per idea: ``frames`` (pre-generated frames and the producer thread), ``proxy`` (a bounded
token-bucket link), ``baselines`` (the three servers LiveFrame is compared with), ``clientproc`` (the
client side, run in a subprocess), ``harness`` (starting that subprocess and the fresh server processes of
``isolated``), ``measure`` (statistics, CPU and memory probes), ``rows`` (one function per table row) and
``__main__`` (command line and the table). ``soak`` is the separate 10-minute soak (docs/reliability.md).
"""
