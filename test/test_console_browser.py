"""The operator console in a real browser: Debian's headless Chromium driven by Selenium.

`langtrack console` runs as a user starts it (its own process, the embedded default model, a
short LangTrack-Synth clip as the video) bound to 127.0.0.2, a loopback address that is not the
default, so the token is required. The page must show frames with a moving box, switch to a
sentence typed in its text box with the query-changed event, refuse an empty sentence, pause
and resume. LANGTRACK_SCREENSHOT=1 also saves docs/img/console.png (the README's picture).
"""
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.2"
FIRST, SECOND = "the star in the picture", "the yellow diamond in the picture"


def _missing() -> list[str]:
    missing = [f"{what} ({how})" for what, how in (("chromium", "apt-get install chromium"),
                                                    ("chromedriver", "apt-get install chromium-driver"))
               if shutil.which(what) is None]
    try:
        import selenium  # noqa: F401
    except ModuleNotFoundError:
        missing.append("selenium (pip install -r requirements-dev.txt)")
    return missing


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """48 frames of a LangTrack-Synth test sequence (a star and a diamond over a real background)."""
    from langtrack_ros.adapters.overlay import VideoWriter
    from langtrack_ros.data.synth.generator import generate_sequence

    seq = generate_sequence(1, "test", length=48).to_sequence()
    path = tmp_path_factory.mktemp("console") / "clip.mp4"
    with VideoWriter(path, 15) as video:
        for i in range(len(seq)):
            video.write(seq.image(i))
    return path


@pytest.fixture(scope="module")
def console_url(clip):
    """`langtrack console` in its own process; yields the URL it prints (with its token)."""
    cmd = [sys.executable, "-m", "langtrack_ros.cli", "console", "--video", str(clip), "--loop", "--query", FIRST,
           "--host", HOST, "--port", "0", "--backend", "torch", "--duration", "180"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # model loading takes a few seconds; the URL line comes once it listens
        lines.append(line)
        if line.startswith("operator console: "):
            break
    else:
        pytest.fail("langtrack console exited before listening:\n" + "".join(lines[-30:]))
    try:
        yield line.split(": ", 1)[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:  # never a silent skip: CI must run this test
        pytest.fail("the console's browser test needs " + ", ".join(missing) +
                    "; `bash scripts/setup.sh --dev` installs them (apt packages when run as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=412,1000"):
        options.add_argument(arg)  # a phone's width
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _text(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def _wait(driver, condition, what: str, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d), message=what)


BOX_PIXEL = """
const view = document.getElementById('view'), box = document.getElementById('box').textContent.split(' ');
if (box.length !== 4) return null;
const [x, y, w, h] = box.map(Number), s = view.width / Number(view.dataset.sourceWidth || view.width);
return Array.from(view.getContext('2d').getImageData(Math.round(x * s), Math.round((y + h / 2) * s), 1, 1).data);
"""


def test_the_console_in_a_real_browser(console_url, browser):
    base = console_url.split("?")[0]
    assert "token=" in console_url, "bound beyond localhost: the URL must carry a token"
    assert _status(base) == 401 and _status(base + "ws") == 401 and _status(base + "console.js") == 401

    browser.get(console_url)
    frames = lambda d: int(d.find_element("id", "view").get_attribute("data-frames") or 0)  # noqa: E731
    _wait(browser, lambda d: frames(d) >= 3 and _text(d, "box") != "–", "no frames with a box arrived")
    assert _text(browser, "query-now") == FIRST and _text(browser, "mode") in ("ROI", "GLOBAL")
    first_box = _text(browser, "box")
    _wait(browser, lambda d: _text(d, "box") not in ("–", first_box), "the box did not move")
    pixel = browser.execute_script(BOX_PIXEL)  # the box is drawn where the page says it is
    assert pixel is not None and max(pixel[0], pixel[1]) > 150 and pixel[2] < 120, pixel

    from selenium.webdriver.common.by import By

    field = browser.find_element(By.ID, "query-input")
    field.send_keys(SECOND)
    browser.find_element(By.ID, "query-send").click()
    _wait(browser, lambda d: _text(d, "reply") == f"tracking '{SECOND}'", "the new sentence was not accepted")
    _wait(browser, lambda d: _text(d, "query-now") == SECOND, "the page does not show the new sentence")
    _wait(browser, lambda d: f'query changed: "{SECOND}"' in _text(d, "events"), "no query-changed event")
    switched = frames(browser)
    _wait(browser, lambda d: frames(d) > switched + 3, "frames stopped after the switch")

    field.clear()
    field.send_keys("   ")
    browser.find_element(By.ID, "query-send").click()
    _wait(browser, lambda d: _text(d, "reply") == "empty query ignored", "an empty sentence was not refused")
    assert _text(browser, "query-now") == SECOND

    browser.find_element(By.ID, "pause").click()
    _wait(browser, lambda d: _text(d, "pause") == "Resume" and _text(d, "mode") == "–", "pause not shown")
    paused_at = frames(browser)
    time.sleep(0.5)
    assert frames(browser) == paused_at, "a paused video file must hold its frame"
    browser.find_element(By.ID, "pause").click()
    _wait(browser, lambda d: _text(d, "pause") == "Pause" and frames(d) > paused_at, "resume did not restart")

    if os.environ.get("LANGTRACK_SCREENSHOT") == "1":
        time.sleep(4)  # a few seconds of the confidence plot
        browser.save_screenshot(str(REPO / "docs" / "img" / "console.png"))
