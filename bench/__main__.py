"""`python -m bench`: run every benchmark script and print its results (see bench/README.md)."""

from bench import data_stages

if __name__ == "__main__":
    data_stages.main()
