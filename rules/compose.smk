rule compose:
    input:
        unpack(compose_inputs),
    # Staged beside the published files: Snakemake deletes a job's outputs before it runs, so a join
    # that fails (full disk, a kill) must not have the published video as its output.
    output:
        **STAGED,
        checked=CHECKED,
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
            **STAGED,
            checked=output.checked,
        )


# The finished files replace the published ones only once all of them exist and were checked; the
# previous video stays in place through any failure of the join.
rule publish:
    input:
        unpack(publish_inputs),
    output:
        **PUBLISHED,
    log:
        f"{LOGS}/publish.log",
    localrule: True
    # Hard links and renames on the submitting machine: no data is copied.
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    run:
        jobs.run_job(
            log[0],
            jobs.publish,
            checked=input.checked,
            staged=list(STAGED.values()),
            published=list(output),
        )
