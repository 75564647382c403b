"""The page in real Chromium (Debian's, driven by Playwright): upload, live progress, play, download, edit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from service.support import Server, small_script

CHROMIUM = Path("/usr/lib/chromium/chromium")


def ensure_chromium() -> Path:
    """Debian's chromium (its real binary, not the wrapper script), installed here if it is missing."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.skip("Chromium is not installed and there is no apt-get to install it")
        for command in (
            ["apt-get", "update"],
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-dejavu-core"],
        ):
            result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
            if result.returncode != 0:
                pytest.skip(f"could not install Chromium with apt-get (unreachable?): {result.stderr[-300:]}")
    return CHROMIUM


def test_upload_render_play_and_download_in_chromium(
    server: Server, image: bytes, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    executable = ensure_chromium()
    (tmp_path / "script.md").write_text(small_script("![Photo](assets/photo.png)", "A narrated slide."))
    (tmp_path / "photo.png").write_bytes(image)
    output = Path(request.config.rootpath) / "tests" / "output" / "service"
    output.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(executable),
            headless=True,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        print("chromium", browser.version)
        page = browser.new_page(viewport={"width": 390, "height": 844}, accept_downloads=True)  # a phone
        page.goto(server.url + "/")
        page.set_input_files("#upload input[name=script]", str(tmp_path / "script.md"))
        page.set_input_files("#upload input[name=assets]", str(tmp_path / "photo.png"))
        page.keyboard.press("Tab")
        page.get_by_role("button", name="Upload").press("Enter")  # keyboard only
        page.get_by_role("heading", name="Small").wait_for()
        assert page.locator("#scenes tr").count() == 2
        page.get_by_role("button", name="Render").press("Enter")
        page.wait_for_function(
            "document.getElementById('stage').textContent === 'done (100 %)'", timeout=180_000
        )
        assert page.eval_on_selector("#bar", "bar => bar.value") == 1
        statuses = page.locator("#scenes tr td:last-child").all_text_contents()
        assert statuses == ["done", "done"]
        assert page.locator("#cancel").is_hidden()
        page.eval_on_selector("#player", "v => { v.muted = true; return v.play(); }")
        page.wait_for_function("document.getElementById('player').currentTime > 1", timeout=30_000)
        video = page.eval_on_selector(
            "#player",
            "v => ({width: v.videoWidth, height: v.videoHeight, error: v.error, time: v.currentTime})",
        )
        assert video["width"] == 320 and video["height"] == 180 and video["error"] is None
        page.screenshot(path=str(output / "studio.png"), full_page=True)
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download").click()
        download = download_info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        src = page.eval_on_selector("#player", "v => v.getAttribute('src')")

        # Edit one scene in the page and render again: only that scene is rendered.
        edited = tmp_path / "edited" / "script.md"
        edited.parent.mkdir()
        edited.write_text(small_script("![Photo](assets/photo.png)", "An edited slide."))
        page.set_input_files("#edit input[name=script]", str(edited))
        page.get_by_role("button", name="Save changes").click()
        page.get_by_text("Saved.").wait_for()
        page.get_by_role("button", name="Render").press("Enter")
        page.wait_for_function("document.getElementById('stage').textContent === 'done (100 %)'")
        page.wait_for_function("document.querySelector('#scenes tr td:last-child').textContent === 'cached'")
        assert page.locator("#scenes tr td:last-child").all_text_contents() == ["cached", "done"]
        browser.close()
    project_id, render = src.split("/")[2:4]
    kept = server.data / "projects" / project_id / "renders" / render / "final.mp4"
    assert download.suggested_filename == "Small.mp4"
    assert saved.read_bytes() == kept.read_bytes()
