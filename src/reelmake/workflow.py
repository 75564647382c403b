"""Where the shared Snakemake workflow lives (inside the wheel, or at the root of a source checkout), and
the template every project folder is made from."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def workflow_root() -> Path:
    """The folder holding the workflow's Snakefile, rules/ and config/."""
    packaged = Path(str(files("reelmake"))) / "workflow"
    if (packaged / "Snakefile").is_file():
        return packaged
    # An editable install runs from the checkout, where the workflow sits at the repository root.
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "Snakefile").is_file():
        return checkout
    raise RuntimeError(
        f"reelmake's workflow is missing (looked in {packaged} and {checkout}); reinstall reelmake"
    )


def snakefile_path() -> str:
    """The shared Snakefile, for a project's ``module`` directive."""
    return str(workflow_root() / "Snakefile")


def project_template() -> Path:
    """What `reelmake new` (and the service, for each upload) copies into a new project folder."""
    return Path(str(files("reelmake") / "templates" / "project"))
