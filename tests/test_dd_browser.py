"""The DD page in a real headless browser (Debian's chromium): it renders the tables,
hostile strings from the sign-in log show as text, never as markup, and an alarm is what a
person sees first, its error codes on screen at 1,400 and 700 px."""

import html as _html
import json
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


# The layout is measured by a probe script that the test adds to a copy of the page (the
# page itself runs no script: its Content-Security-Policy is removed from the copy only).
PROBE = """<script>
(function () {
  function box(element) {
    var r = element.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top};
  }
  var sections = Array.prototype.slice.call(document.querySelectorAll("section"));
  var first = sections[0];
  var codes = Array.prototype.slice.call(first.querySelectorAll("th")).filter(
    function (th) { return th.textContent === "error code"; });
  var found = {viewport: window.innerWidth, page: document.documentElement.scrollWidth,
               sections: sections.map(function (s) { return [s.id, box(s).top]; }),
               codes: codes.map(box),
               timeline: box(document.querySelector("svg.timeline")),
               measures: box(document.getElementById("measures"))};
  var out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
})();
</script>"""


def measured(browser, page, tmp_path, width):
    probe = tmp_path / ("probe-%d.html" % width)
    html = page.read_text(encoding="utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy"[^>]*>', html).group()
    assert "default-src 'none'" in csp and "script-src" not in csp
    probe.write_text(html.replace(csp, "").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")
    dom = chromium(browser, tmp_path / "profile", "--window-size=%d,900" % width,
                   "--dump-dom", probe.as_uri())
    return json.loads(_html.unescape(re.search(r'<pre id="measured">(.*?)</pre>',
                                               dom).group(1)))


@pytest.fixture
def critical_page(run, tmp_path):
    result = run("signins", "--input", SAMPLE, "-c", "failed_pct=1")
    assert result.code == 2
    return tmp_path / "state" / "dd" / "file" / "check_entra_signins.html"


@pytest.mark.parametrize("width", [1400, 700])
def test_the_alarm_is_read_first_and_its_error_codes_are_on_screen(browser, critical_page,
                                                                   tmp_path, width):
    found = measured(browser, critical_page, tmp_path, width)
    assert found["viewport"] == width
    # failed_pct is CRITICAL: the failed sign-ins it shares come first, on top.
    assert [label for label, _ in found["sections"]] == ["m-failed", "m-successful",
                                                          "m-risky"]
    tops = [top for _, top in found["sections"]]
    assert tops == sorted(tops)
    assert found["timeline"]["top"] < found["measures"]["top"] < tops[0]
    # Both tables of the section have an error-code column (by code, and the list), and
    # both are within the window: no scrolling sideways to see why sign-ins failed.
    assert len(found["codes"]) == 2
    for code in found["codes"]:
        assert 0 <= code["left"] and code["right"] <= width, code
    # Wide tables scroll inside their box; the page itself never does.
    assert found["page"] <= width



def test_the_threats_page_leads_with_the_spray_and_shows_the_hop(browser, run, tmp_path):
    result = run("threats", "--input", SAMPLE, "-c", "spray_ips=0", "-w",
                 "device_code_users=0", "-w", "multi_country_users=0")
    assert result.code == 2
    page = tmp_path / "state" / "dd" / "file" / "check_entra_threats.html"
    dom = chromium(browser, tmp_path / "profile", "--dump-dom", page.as_uri())
    sections = re.findall(r"<h2[^>]*>([^<:]+):", dom)
    assert sections == ["Password spray IPs", "Device-code users", "Users in several countries",
                        "ROPC users", "Legacy client users", "Unusual users",
                        "Unusual IP addresses", "Unusual applications"]
    assert re.search(r"<h3[^>]*>Their countries: when and from where", dom)
    assert "<td>US \u2192 RO</td>" in dom
    assert "<td>192.0.2.230</td>" in dom  # the replay's IP, in the hop table
