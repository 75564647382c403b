"""Scene hashes: which changes alter a scene's hash, and which must not; spec files keep their mtime."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers import make_image, make_sound

from reelmake.errors import UserError
from reelmake.plan import burns_captions, plan_project, spec_path

BASE = """---
title: Hashes
---
## One
First scene.

## Two
Second scene.

![photo](assets/photo.png)

## Three
Third scene.
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"width": 320, "height": 180}))
    (tmp_path / "script.md").write_text(BASE)
    make_image(tmp_path / "assets" / "photo.png", (64, 48), (200, 40, 40))
    return tmp_path


def hashes(project: Path, **overrides: object) -> list[str]:
    return [s.hash for s in plan_project(project, overrides).scenes]


def test_editing_one_scene_changes_only_its_hash(project: Path) -> None:
    before = hashes(project)
    (project / "script.md").write_text(BASE.replace("Second scene.", "Second scene, edited."))
    after = hashes(project)
    assert [b == a for b, a in zip(before, after, strict=True)] == [True, False, True]


def test_reorder_keeps_hashes_and_edits_outside_scenes_change_nothing(project: Path) -> None:
    before = hashes(project)
    one, two, three = BASE.split("## ")[1:]
    (project / "script.md").write_text(
        BASE.split("## ")[0] + "A new note.\n\n## " + "## ".join([three, one, two])
    )
    assert sorted(hashes(project)) == sorted(before)


def test_asset_bytes_change_the_hash_but_touching_does_not(project: Path) -> None:
    before = hashes(project)
    (project / "assets" / "photo.png").touch()
    assert hashes(project) == before
    make_image(project / "assets" / "photo.png", (64, 48), (40, 200, 40))
    after = hashes(project)
    assert after[1] != before[1] and after[0] == before[0]


@pytest.mark.parametrize(
    ("setting", "value", "all_change"),
    [("fps", 25, True), ("width", 640, True), ("theme", "light", True), ("speech_speed", 1.2, True),
     ("default_duration", 9, False)],
)  # fmt: skip
def test_settings_that_shape_every_scene(
    project: Path, setting: str, value: object, all_change: bool
) -> None:
    before = hashes(project)
    after = hashes(project, **{setting: value})
    assert all(b != a for b, a in zip(before, after, strict=True)) == all_change
    if not all_change:
        assert after == before


def test_renderer_version_is_in_the_hash(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = hashes(project)
    monkeypatch.setattr("reelmake.plan.renderer_version", lambda: "a different renderer")
    assert set(hashes(project)).isdisjoint(before)


def test_identical_scenes_share_a_hash(project: Path) -> None:
    (project / "script.md").write_text("## Same\nWords.\n\n## Same\nWords.\n")
    first, second = hashes(project)
    assert first == second


def test_spec_files_are_written_once_and_keep_their_mtime(project: Path) -> None:
    plan = plan_project(project, write=True)
    specs = {s.hash: (project / spec_path(s.hash)).stat().st_mtime_ns for s in plan.scenes}
    composition = (project / "build" / "composition.json").stat().st_mtime_ns
    plan_project(project, write=True)
    assert {h: (project / spec_path(h)).stat().st_mtime_ns for h in specs} == specs
    assert (project / "build" / "composition.json").stat().st_mtime_ns == composition


def test_settings_are_validated_with_the_file_named(project: Path) -> None:
    (project / "config.yaml").write_text("fps: 31\n")
    with pytest.raises(UserError, match=r"config.yaml: fps: 31 is not one of 24, 25, 30, 60"):
        plan_project(project)
    (project / "config.yaml").write_text("")
    (project / "script.md").write_text("---\ncolour: red\n---\n## A\nx\n")
    with pytest.raises(UserError, match=r"front matter.*unknown setting"):
        plan_project(project)


def test_characters_no_font_can_show_are_reported(project: Path) -> None:
    (project / "script.md").write_text("## Party 🎉\nFun.\n")
    with pytest.raises(UserError, match=r"U\+1F389"):
        plan_project(project)


@pytest.mark.parametrize(
    ("settings", "size"),
    [({}, (1920, 1080)), ({"format": "vertical"}, (1080, 1920)), ({"format": "square"}, (1080, 1080)),
     ({"format": "vertical", "width": 720, "height": 1280}, (720, 1280))],
)  # fmt: skip
def test_format_sets_the_frame_size(project: Path, settings: dict, size: tuple[int, int]) -> None:
    (project / "config.yaml").write_text(yaml.safe_dump(settings))
    plan = plan_project(project)
    assert (plan.settings["width"], plan.settings["height"]) == size
    assert {s.spec["width"] for s in plan.scenes} == {size[0]}


def test_unknown_format_is_refused(project: Path) -> None:
    (project / "config.yaml").write_text("format: portrait\n")
    with pytest.raises(UserError, match="'portrait' is not one of 'landscape', 'vertical', 'square'"):
        plan_project(project)


def test_preview_size_keeps_the_shape_and_never_enlarges() -> None:
    from reelmake.plan import preview_size

    assert preview_size(1920, 1080) == (640, 360)
    assert preview_size(1080, 1920) == (360, 640)
    assert preview_size(1080, 1080) == (360, 360)
    assert preview_size(1000, 750) == (480, 360)
    assert preview_size(320, 180) == (320, 180)


def test_caption_mode_reaches_only_scenes_it_burns_into(project: Path) -> None:
    """Slides show their narration already: only the photo's hash depends on the caption mode."""
    burn, sidecar = hashes(project), hashes(project, captions="sidecar")
    assert [b == s for b, s in zip(burn, sidecar, strict=True)] == [True, False, True]
    assert hashes(project, captions="off") == sidecar  # nothing is burned either way
    photo = plan_project(project).scenes[1]
    assert photo.spec["captions"] == "burn" and burns_captions(photo.spec)
    assert not burns_captions(plan_project(project, {"captions": "sidecar"}).scenes[1].spec)
    assert not any(burns_captions(scene.spec) for scene in plan_project(project).scenes[::2])


def test_captions_off_written_bare_in_yaml_means_off(project: Path) -> None:
    (project / "config.yaml").write_text("width: 320\nheight: 180\ncaptions: off\n")
    assert plan_project(project).settings["captions"] == "off"
    (project / "config.yaml").write_text("captions: sometimes\n")
    with pytest.raises(UserError, match=r"config\.yaml"):
        plan_project(project)


def test_a_burned_caption_needs_characters_the_fonts_have(project: Path) -> None:
    (project / "script.md").write_text(BASE.replace("Second scene.", "Second scene 🎬."))
    with pytest.raises(UserError, match="U\\+1F3AC"):
        plan_project(project)
    assert not burns_captions(plan_project(project, {"captions": "sidecar"}).scenes[1].spec)


def test_music_is_in_the_composition_and_in_no_scene_hash(project: Path) -> None:
    make_sound(project / "assets" / "music.mp3", 2.0, (110.0, 165.0))
    make_sound(project / "assets" / "other.wav", 3.0, (220.0,))
    before = hashes(project)
    plan = plan_project(project, {"music": "assets/music.mp3", "music_volume": -6}, write=True)
    assert [s.hash for s in plan.scenes] == before
    music = plan.composition()["music"]
    assert (music["path"], music["volume_db"]) == ("assets/music.mp3", -6.0)
    assert len(music["sha256"]) == 64
    assert '"music"' in (project / plan.composition_file).read_text()
    other = plan_project(project, {"music": "assets/other.wav"}).composition()["music"]
    assert other["sha256"] != music["sha256"] and other["volume_db"] == -10.0  # the default
    assert "music" not in plan_project(project).composition()


def test_a_recorded_narration_replaces_the_voice_and_its_bytes_are_in_the_hash(project: Path) -> None:
    voice = make_sound(project / "assets" / "voice.wav", 1.0, (300.0,))
    script = BASE.replace("Third scene.", "<!-- voice_file: assets/voice.wav -->\nThird scene.")
    (project / "script.md").write_text(script)
    plan = plan_project(project)
    spec = plan.scenes[2].spec
    assert "speech" not in spec and spec["voice_file"]["path"] == "assets/voice.wav"
    assert spec["min_duration_s"] == 0.0  # the recording sets the length
    before = [s.hash for s in plan.scenes]
    make_sound(voice, 1.0, (310.0,))
    after = hashes(project)
    assert [b == a for b, a in zip(before, after, strict=True)] == [True, True, False]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("assets/none.mp3", "config.yaml: setting music: 'assets/none.mp3' does not exist"),
        ("../music.wav", "config.yaml: setting music: '../music.wav' points outside the project"),
        ("assets/photo.png", "config.yaml: setting music: 'assets/photo.png' has no audio stream"),
        ("assets/blip.wav", "config.yaml: setting music: 'assets/blip.wav' lasts 0.50 s; use music of at"),
    ],
)
def test_bad_music_is_refused_with_the_setting_named(project: Path, setting: str, expected: str) -> None:
    make_sound(project / "assets" / "blip.wav", 0.5)
    make_sound(project.parent / "music.wav", 2.0)
    (project / "config.yaml").write_text(yaml.safe_dump({"width": 320, "height": 180, "music": setting}))
    with pytest.raises(UserError) as error:
        plan_project(project)
    assert str(error.value).startswith(expected), str(error.value)


def test_the_narration_key_ignores_the_picture() -> None:
    from reelmake.plan import narration_key

    spec = {"renderer": "r", "fps": 30, "narration": "Hello.", "speech": {"voice": "heart"},
            "min_duration_s": 0.0, "width": 1920, "height": 1080, "fit": "cover", "kind": "image",
            "asset": {"sha256": "a"}, "captions": "burn", "motion": {"direction": "zoom-in"}}  # fmt: skip
    key = narration_key(spec)
    pictures = [{"width": 640, "height": 360}, {"asset": {"sha256": "b"}}, {"fit": "contain"},
                {"motion": {"direction": "pan-left"}}, {"captions": "off"}, {"title": "Other"}]  # fmt: skip
    for picture in pictures:
        assert narration_key({**spec, **picture}) == key, picture
    for sound in ({"narration": "Hi."}, {"fps": 25}, {"speech": {"voice": "heart", "speed": 1.2}},
                  {"min_duration_s": 3.0}, {"voice_file": {"sha256": "c"}}, {"renderer": "r2"}):  # fmt: skip
        assert narration_key({**spec, **sound}) != key, sound


def test_a_voice_is_due_only_for_a_narration_neither_made_nor_cached(project: Path) -> None:
    from reelmake.jobs import voices_due
    from reelmake.plan import NARRATION_CACHE, narration_key

    (project / "config.yaml").write_text(yaml.safe_dump({"width": 1280, "height": 720}))  # over preview size
    plan = plan_project(project)
    voice = {(plan.scenes[0].spec["speech"]["voice"], plan.scenes[0].spec["speech"]["speed"])}
    assert voices_due(plan) == voice
    for scene in plan.scenes[:2]:  # made for the scene
        (project / scene.folder).mkdir(parents=True)
        (project / scene.folder / "timing.json").write_text("{}")
    assert voices_due(plan) == voice
    cached = project / NARRATION_CACHE / narration_key(plan.scenes[2].spec)  # e.g. by a full render
    cached.mkdir(parents=True)
    (cached / "timing.json").write_text("{}")
    assert voices_due(plan) == set()
    assert voices_due(plan, due_only=False) == voice  # `reelmake watch` loads it for the next edit
    # A preview's scenes have folders of their own, and the full render's narrations in the cache.
    preview = plan_project(project, {"preview": True})
    assert {s.folder for s in preview.scenes}.isdisjoint(s.folder for s in plan.scenes)
    assert voices_due(preview) == voice
    for scene in plan.scenes[:2]:
        cached = project / NARRATION_CACHE / narration_key(scene.spec)
        cached.mkdir(parents=True)
        (cached / "timing.json").write_text("{}")
    assert voices_due(preview) == set()
