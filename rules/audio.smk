rule narration:
    input:
        spec=scene_spec,
    output:
        wav="build/scenes/{hash}/narration.wav",
        timing="build/scenes/{hash}/timing.json",
    benchmark:
        "build/benchmarks/narration/{hash}.tsv"
    log:
        "logs/narration/{hash}.log",
    threads: 1
    resources:
        mem_mb=800,
        runtime=10,
    script:
        "../scripts/narration.py"
