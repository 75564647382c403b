from reelmake.jobs import render_narration, run_job

run_job(
    snakemake.log[0],
    render_narration,
    spec=snakemake.input.spec,
    wav=snakemake.output.wav,
    timing=snakemake.output.timing,
)
