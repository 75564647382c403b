"""Any script, front matter or setting value either loads or is refused with one clear line.

Hypothesis writes Markdown made of headings, narration, images, option comments and front matter, with
hostile text (RTL, combining marks, emoji, control characters, YAML escapes of NUL and lone surrogates)
and hostile YAML (wrong types, NaN and infinities, huge numbers, aliases, deep nesting, tags). Each is
parsed, and checked with `reelmake check`: a loaded script obeys every limit, a refused one gives
exactly one `reelmake: error:` line and exit status 1, never a traceback. Each limit is tested at and
just over its value.
"""

from __future__ import annotations

import contextlib
import math
import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fault.fuzz_support import check, check_error, check_ok, snakemake, write_project
from reelmake.errors import UserError
from reelmake.plan import load_settings
from reelmake.schemas import load_schema
from reelmake.script import MAX_SCENE_CHARS, MAX_SCENES, Script, load_script, parse_markdown
from reelmake.textio import MAX_TEXT_BYTES, MAX_YAML_DEPTH, MAX_YAML_VALUES, load_yaml, read_user_text

CONFIG_KEYS = sorted(load_schema("config")["properties"])
SCENE_KEYS = sorted(load_schema("script")["properties"]["scenes"]["items"]["properties"])
ODD = [
    "\u202eevil\u202c", "\u200f", "مرحبا", "שלום", "e\u0301\u0301\u0301", "Z\u0335\u0321\u0334", "😀",
    "👩\u200d👩\u200d👧", "\u2028", "\ufeff", "\ufffd", "\U0010fffd", "ß", "ǅ", "\t", "\x07", "\x1b[31m",
    "\x00", "\x7f", "\x85", "&#0;", "&#7;", "&#xD800;", "&amp;", "\\", "'", '"', "`", "${x}", "%s",
]  # fmt: skip
# YAML that no value generator writes: escapes of NUL and lone surrogates, aliases, tags, odd numbers.
RAW_YAML = [
    'title: "\\ud800"', 'title: "a\\0b"', 'title: "\\x07"', "title: &a [1]\nfps: *a",
    "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]", "title: !!python/object/apply:os.system [ls]",
    "title: !!binary aGk=", "<<: {fps: 25}", "? [a, b]\n: 1", "fps: 0x1E", "fps: 3_0", "fps: 30.0",
    "width: 320.0", "title: 2020-13-45", "width: " + "9" * 5000, "speech_speed: .nan",
    "default_duration: .inf", "max_asset_mb: -.inf", "music_volume: .NaN", "poster: .nan", "fps: 30\nfps: 25",
    "title: " + "[" * 3000 + "]" * 3000, "captions: off", "captions: no", "preview: yes", "~: 1",
    "title:\n  - a", "- a\n- b", "just text", "'unclosed", "title: |\n  multi\n  line", "\t", ": :",
]  # fmt: skip
NASTY_PATHS = [
    "", "-", "-i.png", "pipe:0", "concat:assets/a.png|assets/b.png", "file:assets/a.png", "http://x/a.png",
    "//server/share/a.png", "/etc/passwd", "../outside.png", "assets/../../x.png", "C:\\x.png",
    "assets\\a.png", "assets/ a .png", "assets/%00.png", "assets/a.png?x=1#y", "~/a.png",
    "assets/" + "a" * 300, "<assets/a b.png>", "assets/nope.png",
]  # fmt: skip


def _scalars() -> st.SearchStrategy[object]:
    return (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=-(10**40), max_value=10**40)
        | st.floats()  # NaN and infinities included
        | st.text(max_size=12)
        | st.sampled_from(ODD)
    )


def _values() -> st.SearchStrategy[object]:
    keys = st.sampled_from(CONFIG_KEYS + SCENE_KEYS) | st.text(max_size=6) | st.integers()
    return st.recursive(
        _scalars(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=8,
    )


def _yaml_text() -> st.SearchStrategy[str]:
    """YAML of the right shape with wrong values, YAML of other shapes, and the raw hostile cases."""
    mapping = st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=6), _values(), max_size=4)
    dumped = (mapping | _values()).map(lambda v: yaml.safe_dump(v, allow_unicode=True, width=1_000_000))
    return dumped | st.sampled_from(RAW_YAML) | st.text(max_size=40)


def _inline_text() -> st.SearchStrategy[str]:
    return st.lists(st.text(max_size=15) | st.sampled_from(ODD), max_size=4).map("".join)


def _block() -> st.SearchStrategy[str]:
    option_body = _yaml_text().map(lambda y: y.replace("-->", "").replace("\n", ", "))
    image = st.tuples(_inline_text(), st.sampled_from(NASTY_PATHS) | st.text(max_size=20))
    return st.one_of(
        _inline_text().map(lambda t: "## " + t),
        _inline_text().map(lambda t: "# " + t),
        _inline_text(),
        image.map(lambda ai: f"![{ai[0]}]({ai[1]})"),
        option_body.map(lambda body: f"<!-- {body} -->"),
        st.sampled_from(["```\n## in a fence\n```", "> ## quoted", "- ## listed", "<div>\n## html\n</div>"]),
        st.sampled_from(["## " + "x" * 301, "## " + "é" * 300, "word " * 1001, "[" * 500, "*a" * 300]),
    )


def _script() -> st.SearchStrategy[str]:
    body = st.lists(_block(), max_size=8).map("\n\n".join)
    front = _yaml_text().map(lambda y: f"---\n{y}\n---\n")
    return st.tuples(st.sampled_from(["", "---\n"]) | front, body).map("".join)


def _assert_clean(script: Script) -> None:
    """A script that loaded obeys every limit and holds no control characters."""
    assert 1 <= len(script.scenes) <= MAX_SCENES
    texts = [script.title] + [t for s in script.scenes for t in (s.title, s.narration, s.visual or "")]
    for text in texts:
        assert all(ch in "\t\n" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in text), repr(text)
    for scene in script.scenes:
        assert len(scene.narration) <= MAX_SCENE_CHARS and 1 <= len(scene.title) <= 300
        for value in scene.options.values():
            assert not isinstance(value, float) or math.isfinite(value)


@given(text=_script())
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_any_markdown_loads_or_is_refused_with_one_line(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "p"
    if folder.exists():  # Hypothesis runs every example in the same tmp_path
        (folder / "script.md").write_text(text, encoding="utf-8")
    else:
        write_project(folder, text)
    try:
        script = parse_markdown(text)
    except UserError as error:
        assert "\n" not in str(error).strip() or "\n" in text  # the message may quote the user's text
        script = None
    if script is not None:
        _assert_clean(script)
    status, out, err = check(folder)
    assert "Traceback" not in err
    if status == 1:
        assert out == ""
        assert err.startswith("reelmake: error: script.md") or err.startswith("reelmake: error: config.yaml")
    else:
        assert status == 0 and script is not None, err
        assert out.rstrip().endswith("OK")


@given(values=st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=6), _values(), max_size=4))
def test_any_config_values_give_settings_or_a_user_error(values: dict) -> None:
    """`snakemake --config key=value` values (any type Snakemake's parser may make) and front matter."""
    script = Script("t", {}, (), "script.md")
    for where in ("overrides", "front matter"):
        try:
            if where == "overrides":
                settings_, _ = load_settings(Path("/nonexistent-project"), script, values)
            else:
                settings_, _ = load_settings(Path("/nonexistent-project"), Script("t", values, (), "s.md"))
        except UserError:
            continue
        assert isinstance(settings_["width"], int) and not isinstance(settings_["width"], bool)
        for value in settings_.values():
            assert not isinstance(value, float) or math.isfinite(value)


@given(data=_values())
def test_any_canonical_yaml_script_loads_or_is_refused(
    tmp_path_factory: pytest.TempPathFactory, data
) -> None:
    path = tmp_path_factory.mktemp("y") / "script.yaml"
    path.write_text(yaml.safe_dump({"scenes": data} if isinstance(data, list) else data, allow_unicode=True))
    with contextlib.suppress(UserError):
        _assert_clean(load_script(path))


@pytest.mark.parametrize("case", RAW_YAML)
def test_hostile_front_matter_through_check(tmp_path: Path, case: str) -> None:
    project = write_project(tmp_path / "p", f"---\n{case}\n---\n## Scene\n\nWords.\n")
    status, _, _ = check(project)
    if status:
        line = check_error(project)
        assert line.startswith("reelmake: error: script.md"), line
    else:
        # YAML 1.1 spellings of 30, of false and true, and a block of text are all fine.
        assert case in (
            "fps: 0x1E",
            "fps: 3_0",
            "captions: off",
            "captions: no",
            "preview: yes",
            "title: |\n  multi\n  line",
        ), case


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ('title: "\\ud800"', "invalid Unicode character escape"),  # libyaml's words for it
        ('title: "a\\0b"', "U+0000, a control character, at position 2"),
        ("speech_speed: .nan", "settings.speech_speed: nan is not a number"),
        ("max_asset_mb: .inf", "settings.max_asset_mb: inf is not a number"),
        ("width: 320.0", "width: 320.0 is not of type 'integer'"),
        ("fps: 30\nfps: 25", "the key 'fps' is given twice"),
        ("title: 2020-13-45", "put it in quotes"),
        ("title: " + "[" * 3000 + "]" * 3000, "maximum nesting depth"),
        ("title: " + "[" * 40 + "]" * 40, "nests lists and mappings more than 32 deep"),
        ("a: &a [x]\nb: *a", "YAML alias"),
        ("2020-01-01: 1", "is not a name; keys must be text"),
    ],
)
def test_what_each_refusal_says(tmp_path: Path, yaml_text: str, expected: str) -> None:
    project = write_project(tmp_path / "p", f"---\n{yaml_text}\n---\n## Scene\n\nWords.\n")
    assert expected in check_error(project)


def test_a_lone_surrogate_from_the_command_line_is_refused() -> None:
    """A byte that is not UTF-8 in `--config title=...` reaches Python as a lone surrogate."""
    with pytest.raises(UserError, match="--config: title: contains U\\+DCFF, an unpaired surrogate"):
        load_settings(Path("/nonexistent-project"), Script("t", {}, (), "s.md"), {"title": "a\udcff"})


def test_control_characters_in_a_scene_name_the_scene_and_line(tmp_path: Path) -> None:
    script = "## One\n\nFine.\n\n## Two\n\nA bell \x07 rings.\n"
    line = check_error(write_project(tmp_path / "p", script))
    assert "script.md:5, scene 2: scenes.1.narration: contains U+0007, a control character" in line
    option = '## One\n\nFine.\n\n<!-- visual: "assets/\\0.png" -->\n'
    assert "scenes.0.visual: contains U+0000" in check_error(write_project(tmp_path / "q", option))


def test_an_image_without_a_file_is_refused(tmp_path: Path) -> None:
    line = check_error(write_project(tmp_path / "p", "## One\n\n![alt]()\n"))
    assert "script.md:3" in line and "an image with no file" in line


# --- limits, each at and just over -------------------------------------------------------------------


def _scenes(count: int) -> str:
    return "".join(f"## S{i}\n\nx\n\n" for i in range(count))


def test_scene_limit(tmp_path: Path) -> None:
    assert len(parse_markdown(_scenes(MAX_SCENES)).scenes) == MAX_SCENES
    over = write_project(tmp_path / "p", _scenes(MAX_SCENES + 1))
    assert f"script.md:{4 * MAX_SCENES + 1}: has over {MAX_SCENES} scenes" in check_error(over)
    # Thousands of scenes stop at the first one over the limit.
    with pytest.raises(UserError, match="has over 500 scenes"):
        parse_markdown(_scenes(5000))


def test_narration_limit() -> None:
    at = "x" * MAX_SCENE_CHARS
    assert parse_markdown(f"## A\n\n{at}\n").scenes[0].narration == at
    with pytest.raises(UserError, match=f"narration is {MAX_SCENE_CHARS + 1:,} characters"):
        parse_markdown(f"## A\n\n{at}x\n")


@pytest.mark.parametrize("where", ["heading", "front matter"])
def test_title_limit(tmp_path: Path, where: str) -> None:
    def script(title: str) -> str:
        return f"## {title}\n\nWords.\n" if where == "heading" else f"---\ntitle: {title}\n---\n## A\n\nB.\n"

    check_ok(write_project(tmp_path / "at", script("t" * 300)))
    assert "is too long" in check_error(write_project(tmp_path / "over", script("t" * 301)))


def test_visual_path_limit(tmp_path: Path) -> None:
    refs = {n: "assets/" + "a" * (n - len("assets/")) for n in (1000, 1001)}
    at = check_error(write_project(tmp_path / "at", f"## A\n\n![]({refs[1000]})\n"))
    assert "cannot be opened (File name too long)" in at  # accepted by the schema, then looked for
    over = check_error(write_project(tmp_path / "over", f"## A\n\n![]({refs[1001]})\n"))
    assert "scenes.0.visual" in over and "is too long" in over


def test_yaml_depth_limit() -> None:
    def nested(depth: int) -> str:  # a mapping, then lists inside each other
        return "a: " + "[" * (depth - 1) + "]" * (depth - 1)

    assert load_yaml(nested(MAX_YAML_DEPTH), shown_as="x")
    with pytest.raises(UserError, match=f"x:1: nests lists and mappings more than {MAX_YAML_DEPTH} deep"):
        load_yaml(nested(MAX_YAML_DEPTH + 1), shown_as="x")


def test_yaml_values_limit() -> None:
    def flow_list(items: int) -> str:  # the list and its items: items + 1 values
        return "[" + ", ".join(["1"] * items) + "]"

    assert len(load_yaml(flow_list(MAX_YAML_VALUES - 1), shown_as="x")) == MAX_YAML_VALUES - 1
    with pytest.raises(UserError, match=f"x:1: holds more than {MAX_YAML_VALUES:,} values"):
        load_yaml(flow_list(MAX_YAML_VALUES), shown_as="x")


def test_text_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "script.md"
    path.write_bytes(b"a" * MAX_TEXT_BYTES)
    assert len(read_user_text(path, shown_as="script.md")) == MAX_TEXT_BYTES
    path.write_bytes(b"a" * (MAX_TEXT_BYTES + 1))
    with pytest.raises(UserError, match=f"is {MAX_TEXT_BYTES + 1:,} bytes; the limit is {MAX_TEXT_BYTES:,}"):
        read_user_text(path, shown_as="script.md")


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, "*a" * 50_000, "![a](b)" * 10_000, "&#7;" * 20_000, "<!--" * 20_000, "> " * 50_000],
)
def test_enormous_lines_load_or_are_refused(text: str) -> None:
    """Markdown's slowest shapes (each linear in its size, measured up to 2 MB while writing this test)."""
    with contextlib.suppress(UserError):
        _assert_clean(parse_markdown("## A\n\n" + text))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("speech_speed=nan", "reelmake: --config: speech_speed: nan is not a number that can be used here"),
    ],
)
def test_command_line_values_through_snakemake(tmp_path: Path, value: str, expected: str) -> None:
    """`snakemake --config` values as Snakemake parses them: one line, no traceback, nothing made."""
    project = write_project(tmp_path / "p", "## A\n\nB.\n")
    result = snakemake(project, "--dry-run", "--config", value)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output
    assert (
        [line for line in output.splitlines() if line.startswith("reelmake:")]
        == [line for line in output.splitlines() if line.startswith(expected)]
        != []
    )
    assert not (project / "build").exists()


@pytest.mark.parametrize(
    ("option", "at", "over"),
    [("duration", 600, 600.001), ("transition_duration", 5, 5.001), ("motion_zoom", 1.5, 1.501),
     ("motion_zoom", 1.02, 1.019), ("duration", 0.001, 0)],
)  # fmt: skip
def test_scene_option_limits(option: str, at: float, over: float) -> None:
    assert parse_markdown(f"## A\n\nB.\n\n<!-- {option}: {at} -->\n").scenes[0].options[option] == at
    with pytest.raises(UserError, match=f"scenes.0.{option}: {over}"):
        parse_markdown(f"## A\n\nB.\n\n<!-- {option}: {over} -->\n")


@pytest.mark.parametrize(
    ("setting", "at", "over"),
    [("speech_speed", 2.0, 2.001), ("speech_speed", 0.5, 0.499), ("width", 3840, 3842), ("height", 64, 62),
     ("default_duration", 600, 600.5), ("music_volume", -40, -40.5), ("transition_duration", 5, 5.5)],
)  # fmt: skip
def test_setting_limits(setting: str, at: float, over: float) -> None:
    script = Script("t", {}, (), "script.md")
    assert load_settings(Path("/nonexistent-project"), script, {setting: at})[0][setting] == at
    with pytest.raises(UserError, match=f"--config: {setting}: {over}"):
        load_settings(Path("/nonexistent-project"), script, {setting: over})
