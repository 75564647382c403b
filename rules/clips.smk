rule scene_clip:
    input:
        unpack(scene_clip_inputs),
    output:
        "build/scenes/{hash}/clip.mp4",
    benchmark:
        "build/benchmarks/scene_clip/{hash}.tsv"
    log:
        "logs/scene_clip/{hash}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=20,
    script:
        "../scripts/scene_clip.py"
