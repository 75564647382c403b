from reelmake.jobs import render_scene_clip, run_job

run_job(
    snakemake.log[0],
    render_scene_clip,
    spec=snakemake.input.spec,
    image=snakemake.input.image,
    timing=snakemake.input.timing,
    asset=snakemake.input.get("asset"),
    out=snakemake.output[0],
)
