rule scene_keyframe:
    input:
        spec=scene_spec,
        image="build/scenes/{hash}/image.png",
    output:
        "build/scenes/{hash}/keyframe.h264",
    log:
        "logs/scene_keyframe/{hash}.log",
    benchmark:
        "build/benchmarks/scene_keyframe/{hash}.tsv"
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(300, 400),
        runtime=cluster_limit(2, 3),
    run:
        jobs.run_job(
            log[0],
            jobs.encode_scene_keyframe,
            spec=input.spec,
            image=input.image,
            out=output[0],
        )


# A still scene with burned captions: one more still per cue, so one more keyframe per cue.
rule caption_keyframe:
    input:
        spec=scene_spec,
        image="build/scenes/{hash}/image.png",
        caption="build/scenes/{hash}/caption{cue}.png",
    output:
        "build/scenes/{hash}/caption{cue}.h264",
    log:
        "logs/caption_keyframe/{hash}-{cue}.log",
    benchmark:
        "build/benchmarks/caption_keyframe/{hash}-{cue}.tsv"
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(300, 400),
        runtime=cluster_limit(2, 3),
    run:
        jobs.run_job(
            log[0],
            jobs.encode_caption_keyframe,
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
        # Its inputs depend on the kind of scene: a keyframe, or an asset and its overlay (and the cues').
        jobs.run_job(
            log[0],
            jobs.render_scene_clip,
            **dict(input.items()),
            out=output.clip,
            record=output.record,
        )
