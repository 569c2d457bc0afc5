"""Tools around the pipeline: the benchmark and the synthetic corpus."""
