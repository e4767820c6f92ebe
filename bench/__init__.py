"""The project's benchmarks: figures to read, never assertions (`python -m bench`)."""
