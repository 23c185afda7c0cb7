"""Glue between Snakemake and the library: run paths, script logging, provenance, atomic outputs."""
