"""Performance suite: each module measures ratios against a baseline run side by side and writes
JSON (with machine, versions and date) to benchmarks/results/. Run ``python -m benchmarks``."""
