rule canonical_script:
    input:
        PLAN.script_file,
    output:
        "build/script.yaml",
    benchmark:
        "build/benchmarks/canonical_script.tsv"
    log:
        "logs/canonical_script.log",
    threads: 1
    resources:
        mem_mb=200,
        runtime=2,
    script:
        "../scripts/canonical_script.py"
