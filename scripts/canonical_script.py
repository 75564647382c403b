from reelmake.jobs import run_job, write_canonical_script

run_job(snakemake.log[0], write_canonical_script, source=snakemake.input[0], out=snakemake.output[0])
