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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=20,
    run:
        jobs.run_job(
            log[0],
            jobs.render_scene_clip,
            spec=input.spec,
            image=input.image,
            timing=input.timing,
            asset=input.get("asset"),
            out=output.clip,
            record=output.record,
        )
