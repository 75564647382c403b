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
