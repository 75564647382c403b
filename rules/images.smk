rule scene_image:
    input:
        spec=scene_spec,
    output:
        "build/scenes/{hash}/image.png",
    benchmark:
        "build/benchmarks/scene_image/{hash}.tsv"
    log:
        "logs/scene_image/{hash}.log",
    threads: 1
    resources:
        mem_mb=800,
        runtime=5,
    script:
        "../scripts/scene_image.py"
