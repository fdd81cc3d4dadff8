"""`make bench`: how fast the service is, against the ceilings of its parts, measured in one run.

Run `python -m bench` (or `make bench`); `BENCH_QUICK=1` for a short run. See bench/README.md.
"""
