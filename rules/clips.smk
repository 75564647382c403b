rule scene_clip:
    input:
        unpack(scene_clip_inputs),
    output:
        clip="build/scenes/{hash}/clip.h264",
        record="build/scenes/{hash}/clip.json",
    log:
        "logs/scene_clip/{hash}.log",
    benchmark:
        "build/benchmarks/scene_clip/{hash}.tsv"
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(300, 700),
        runtime=cluster_limit(5, 10),
    run:
        # Its inputs depend on the kind of scene (see scene_clip_inputs).
        jobs.run_job(
            log[0],
            jobs.render_scene_clip,
            **dict(input.items()),
            out=output.clip,
            record=output.record,
        )
