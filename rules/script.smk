rule canonical_script:
    input:
        PLAN.script_file,
    output:
        "build/script.yaml",
    log:
        "logs/canonical_script.log",
    benchmark:
        "build/benchmarks/canonical_script.tsv"
    threads: 1
    resources:
        mem_mb=400,
        runtime=2,
    run:
        jobs.run_job(
            log[0], jobs.write_canonical_script, source=input[0], out=output[0]
        )
