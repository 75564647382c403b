rule narration:
    input:
        spec=scene_spec,
    output:
        wav="build/scenes/{hash}/narration.wav",
        aac="build/scenes/{hash}/narration.m4a",
        timing="build/scenes/{hash}/timing.json",
    log:
        "logs/narration/{hash}.log",
    benchmark:
        "build/benchmarks/narration/{hash}.tsv"
    group:
        "scene"
    threads: 1
    resources:
        mem_mb=cluster_limit(800),
        runtime=cluster_limit(10),
    run:
        jobs.run_job(
            log[0],
            jobs.render_narration,
            spec=input.spec,
            wav=output.wav,
            aac=output.aac,
            timing=output.timing,
        )
