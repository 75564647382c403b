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
        mem_mb=cluster_limit(600, 400),
        runtime=cluster_limit(5, 5),
    run:
        # With music, the inputs include the mixed soundtrack (see compose_inputs).
        jobs.run_job(
            log[0],
            jobs.compose_final,
            composition=input.composition,
            soundtrack=input.get("soundtrack"),
            **dict(output.items()),
        )
