rule transition:
    input:
        unpack(transition_inputs),
    output:
        segment="build/transitions/{hash}.h264",
        record="build/transitions/{hash}.json",
    log:
        "logs/transition/{hash}.log",
    benchmark:
        "build/benchmarks/transition/{hash}.tsv"
    threads: 1
    resources:
        mem_mb=cluster_limit(300, 300),
        runtime=cluster_limit(2, 3),
    run:
        jobs.run_job(
            log[0],
            jobs.render_transition,
            **dict(input.items()),
            out=output.segment,
            record=output.record,
        )
