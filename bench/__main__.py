"""`python -m bench`: run every benchmark script and print its results (see "Benchmarks" in README.md)."""

from bench import captions, curation, data_stages, export_training, ingest

if __name__ == "__main__":
    data_stages.main()
    ingest.main()
    captions.main()
    curation.main()
    export_training.main()
