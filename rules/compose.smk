rule compose:
    input:
        unpack(compose_inputs),
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
        mem_mb=1500,
        runtime=30,
    run:
        jobs.run_job(
            log[0],
            jobs.compose_final,
            composition=input.composition,
            # With music: the mixed track and its measurements (see compose_inputs).
            soundtrack=input.get("soundtrack"),
            video=output.video,
            srt=output.srt,
            vtt=output.vtt,
            chapters=output.chapters,
            poster=output.poster,
            manifest=output.manifest,
        )
