from reelmake.jobs import render_scene_image, run_job

run_job(snakemake.log[0], render_scene_image, spec=snakemake.input.spec, out=snakemake.output[0])
