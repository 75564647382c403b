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


# On a cluster, copying the script to build/script.yaml is not worth a SLURM job.
localrules:
    canonical_script,


rule all:
    default_target: True
    input:
        "build/script.yaml",
        *PUBLISHED.values(),
