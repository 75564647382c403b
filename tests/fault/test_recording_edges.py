"""Found by the full-disk suite: a recorded narration that is sound up to its first or last sample (no
silence around it, as a real microphone's noise floor never is) made the join fail with "audio ...
overlaps the scene before it". Its AAC window must stay inside its scene."""

from __future__ import annotations

from collections.abc import Callable

import av
import numpy as np
from conftest import Project
from helpers import make_sound


def test_a_recording_loud_to_both_ends_joins_between_two_scenes(new_project: Callable[..., Project]) -> None:
    project = new_project(
        """
        ---
        title: Edges
        ---
        ## Before
        <!-- duration: 1 -->

        ## Recorded
        <!-- voice_file: assets/voice.wav -->

        ## After
        <!-- duration: 1 -->
        """
    )
    make_sound(project.path / "assets" / "voice.wav", 2.0, (440.0,), rate=48_000, channels=1)
    project.snakemake()
    scenes = project.manifest()["scenes"]
    recorded = scenes[1]["end_s"] - scenes[1]["start_s"]
    assert 2.0 <= recorded <= 2.3  # the recording, and at most 0.13 s of silence added at each end
    with av.open(str(project.path / "build" / "final.mp4")) as container:
        sound = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    rate = 48_000
    loud = np.flatnonzero(np.abs(sound) > 0.01) / rate
    # The tone plays inside its scene, and the scenes around it stay silent.
    assert scenes[1]["start_s"] - 0.01 <= loud[0] and loud[-1] <= scenes[1]["end_s"] + 0.01
    assert loud[-1] - loud[0] >= 1.95
