rule scene_image:
    input:
        spec=scene_spec,
    output:
        "build/scenes/{hash}/image.png",
    log:
        "logs/scene_image/{hash}.log",
    benchmark:
        "build/benchmarks/scene_image/{hash}.tsv"
    threads: 1
    resources:
        mem_mb=800,
        runtime=5,
    run:
        jobs.run_job(log[0], jobs.render_scene_image, spec=input.spec, out=output[0])


rule caption_image:
    input:
        spec=scene_spec,
    output:
        "build/scenes/{hash}/caption{cue}.png",
    log:
        "logs/caption_image/{hash}-{cue}.log",
    benchmark:
        "build/benchmarks/caption_image/{hash}-{cue}.tsv"
    threads: 1
    resources:
        mem_mb=400,
        runtime=5,
    run:
        jobs.run_job(
            log[0],
            jobs.render_caption,
            spec=input.spec,
            number=wildcards.cue,
            out=output[0],
        )


rule scene_title:
    input:
        spec=scene_spec,
    output:
        "build/scenes/{hash}/title.png",
    log:
        "logs/scene_title/{hash}.log",
    benchmark:
        "build/benchmarks/scene_title/{hash}.tsv"
    threads: 1
    resources:
        mem_mb=300,
        runtime=5,
    run:
        jobs.run_job(log[0], jobs.render_scene_title, spec=input.spec, out=output[0])
