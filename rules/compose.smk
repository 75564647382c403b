rule compose:
    input:
        composition=str(PLAN.composition_file),
        clips=scene_files("clip.h264"),
        records=scene_files("clip.json"),
        narrations=scene_files("narration.m4a"),
        timings=scene_files("timing.json"),
    output:
        video=f"{OUT}/final.mp4",
        srt=f"{OUT}/final.srt",
        vtt=f"{OUT}/final.vtt",
        chapters=f"{OUT}/chapters.txt",
        poster=f"{OUT}/poster.jpg",
        manifest=f"{OUT}/manifest.json",
    log:
        f"{LOGS}/compose.log",
    benchmark:
        f"{OUT}/benchmarks/compose.tsv"
    threads: 2
    resources:
        mem_mb=cluster_limit(600, 400),
        runtime=cluster_limit(5, 5),
    run:
        jobs.run_job(
            log[0],
            jobs.compose_final,
            composition=input.composition,
            video=output.video,
            srt=output.srt,
            vtt=output.vtt,
            chapters=output.chapters,
            poster=output.poster,
            manifest=output.manifest,
        )
