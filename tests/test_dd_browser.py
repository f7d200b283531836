"""The DD page in a real headless browser (Debian's chromium): it renders the tables, and
hostile strings from the sign-in log show as text, never as markup."""

import os
import re
import subprocess

import pytest

from conftest import SAMPLE

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("%s is missing: CI must install Debian's chromium" % CHROMIUM)
        pytest.skip("%s is not installed (apt-get install chromium)" % CHROMIUM)
    return CHROMIUM


def chromium(browser, profile, *argv, timeout=90):
    proc = subprocess.run([browser, *FLAGS, "--user-data-dir=%s" % profile, *argv],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture
def page(run, tmp_path):
    result = run("signins", "--input", SAMPLE, "-w", "failed=1", "--successful-signin-dd",
                 "yes", "--dd-limit", "3000")
    assert result.code == 1
    path = tmp_path / "state" / "dd" / "file" / "check_entra_signins.html"
    assert path.exists()
    return path


def test_the_browser_renders_the_tables_and_shows_hostile_strings_as_text(browser, page,
                                                                          tmp_path):
    dom = chromium(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    # The parsed document: headings and tables are there ...
    assert "<h1>Entra signins: detailed diagnosis" in dom
    for heading in ("Measures", "Failed sign-ins, newest first",
                    "Failed sign-ins by error code", "Risky sign-ins, newest first",
                    "Successful sign-ins, newest first"):
        assert re.search(r"<h[23][^>]*>%s" % re.escape(heading), dom), heading
    assert dom.count("<table>") == 4  # successful, failed, error codes, risky
    assert dom.count('<table class="summary">') == 1  # the measures
    assert len(re.findall(r"<tr>", dom)) > 2466 - 1000  # every sign-in of the sample
    assert '<td class="n">198.51.100.7</td>' not in dom  # an IP is text, not a number
    # ... and the hostile strings are text nodes: the DOM serializer escapes them again.
    assert "<td>Mallory | &lt;script&gt;alert(1)&lt;/script&gt;</td>" in dom
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "<script" not in dom and "<img" not in dom


def test_screenshot_of_the_page(browser, page, tmp_path):
    shot = tmp_path / "dd.png"
    chromium(browser, tmp_path / "profile", "--hide-scrollbars", "--window-size=900,1400",
             "--screenshot=%s" % shot, page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (900, 1400)
    assert len(data) > 20000  # text and tables, not a blank page
    keep = os.environ.get("DD_SCREENSHOT")
    if keep:  # for a person who wants to look at it
        with open(keep, "wb") as handle:
            handle.write(data)
