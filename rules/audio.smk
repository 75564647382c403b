rule narration:
    input:
        unpack(narration_inputs),
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


# Only a video with background music: its whole sound is mixed here, once, after the scenes' narration.
rule soundtrack:
    input:
        unpack(soundtrack_inputs),
    output:
        track=str(PLAN.soundtrack_files[0]),
        report=str(PLAN.soundtrack_files[1]),
    log:
        f"{LOGS}/soundtrack.log",
    benchmark:
        f"{OUT}/benchmarks/soundtrack.tsv"
    threads: 1
    resources:
        mem_mb=cluster_limit(1000),
        runtime=cluster_limit(10),
    run:
        jobs.run_job(
            log[0],
            jobs.mix_soundtrack,
            composition=input.composition,
            out=output.track,
            report=output.report,
        )
