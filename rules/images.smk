rule scene_image:
    input:
        spec=scene_spec,
    output:
        "build/scenes/{hash}/image.png",
    log:
        "logs/scene_image/{hash}.log",
    benchmark:
        "build/benchmarks/scene_image/{hash}.tsv"
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(300, 300),
        runtime=cluster_limit(2, 2),
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
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(200, 200),
        runtime=cluster_limit(2, 1),
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
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(200, 200),
        runtime=cluster_limit(2, 1),
    run:
        jobs.run_job(log[0], jobs.render_scene_title, spec=input.spec, out=output[0])
