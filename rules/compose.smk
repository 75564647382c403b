rule compose:
    input:
        composition=str(COMPOSITION),
        clips=scene_files("clip.h264"),
        records=scene_files("clip.json"),
        narrations=scene_files("narration.m4a"),
        timings=scene_files("timing.json"),
    output:
        video="build/final.mp4",
        srt="build/final.srt",
        manifest="build/manifest.json",
    log:
        "logs/compose.log",
    benchmark:
        "build/benchmarks/compose.tsv"
    threads: 2
    resources:
        mem_mb=1500,
        runtime=30,
    run:
        jobs.run_job(
            log[0],
            jobs.compose_final,
            composition=input.composition,
            video=output.video,
            srt=output.srt,
            manifest=output.manifest,
        )
