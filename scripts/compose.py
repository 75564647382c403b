from reelmake.jobs import compose_final, run_job

run_job(
    snakemake.log[0],
    compose_final,
    composition=snakemake.input.composition,
    clips=list(snakemake.input.clips),
    narrations=list(snakemake.input.narrations),
    timings=list(snakemake.input.timings),
    video=snakemake.output.video,
    srt=snakemake.output.srt,
    manifest=snakemake.output.manifest,
)
