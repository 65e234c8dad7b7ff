"""`python -m bench [--quick] [--only stage,stage] [--page-only]`: run the benchmark scripts and write
bench/results/RESULTS.md and results.json (see bench/suite.py and "Benchmarks" in README.md)."""

from bench.suite import main

if __name__ == "__main__":
    main()
