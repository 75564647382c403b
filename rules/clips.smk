rule scene_gop:
    input:
        spec=scene_spec,
        image="build/scenes/{hash}/image.png",
    output:
        "build/scenes/{hash}/gop.h264",
    log:
        "logs/scene_gop/{hash}.log",
    benchmark:
        "build/benchmarks/scene_gop/{hash}.tsv"
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(300, 400),
        runtime=cluster_limit(2, 3),
    run:
        jobs.run_job(
            log[0],
            jobs.encode_scene_gop,
            spec=input.spec,
            image=input.image,
            out=output[0],
        )


# A still scene with burned captions: one more still per cue, so one more GOP per cue.
rule caption_gop:
    input:
        spec=scene_spec,
        image="build/scenes/{hash}/image.png",
        caption="build/scenes/{hash}/caption{cue}.png",
    output:
        "build/scenes/{hash}/caption{cue}.h264",
    log:
        "logs/caption_gop/{hash}-{cue}.log",
    benchmark:
        "build/benchmarks/caption_gop/{hash}-{cue}.tsv"
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(300, 400),
        runtime=cluster_limit(2, 3),
    run:
        jobs.run_job(
            log[0],
            jobs.encode_caption_gop,
            spec=input.spec,
            image=input.image,
            caption=input.caption,
            out=output[0],
        )


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
        # Its inputs depend on the kind of scene: a GOP, or an asset and its overlay (and the cues').
        jobs.run_job(
            log[0],
            jobs.render_scene_clip,
            **dict(input.items()),
            out=output.clip,
            record=output.record,
        )
