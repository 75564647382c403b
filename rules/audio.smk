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
    threads: 1
    resources:
        mem_mb=800,
        runtime=10,
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
        track=str(SOUNDTRACK),
        report=str(SOUNDTRACK_REPORT),
    log:
        "logs/soundtrack.log",
    benchmark:
        "build/benchmarks/soundtrack.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    run:
        jobs.run_job(
            log[0],
            jobs.mix_soundtrack,
            composition=input.composition,
            out=output.track,
            report=output.report,
        )
