# reelmake: a Markdown script in, a narrated MP4 out, re-rendering only the scenes that changed.
# Run it inside a project folder (whose own Snakefile uses this one as a module), or with
# `snakemake -s <this file> --directory <project>`.
from snakemake.utils import min_version

min_version("9.0")


include: "rules/common.smk"
include: "rules/script.smk"
include: "rules/images.smk"
include: "rules/audio.smk"
include: "rules/clips.smk"
include: "rules/transitions.smk"
include: "rules/compose.smk"


rule all:
    default_target: True
    input:
        "build/script.yaml",
        "build/final.mp4",
        "build/final.srt",
        "build/final.vtt",
        "build/chapters.txt",
        "build/poster.jpg",
        "build/manifest.json",
