"""The studio service: `reelmake serve`, an HTTP API and a page around the same Snakemake workflow."""
