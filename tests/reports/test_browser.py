"""The full report opened in headless Chromium, as a reader would see it.

Needs Debian's ``chromium`` at /usr/bin/chromium (CI installs it in ``.ci/run``) and the
``playwright`` Python package (a dev dependency; its own browser download is not used).
The full-page screenshot is kept in ``test-artifacts/`` (``$RAIKIT_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from raikit.audit.impact.concerns import CONCERNS

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("RAIKIT_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
HEADINGS = [
    "Executive summary",
    "Risk register",
    "Framework coverage",
    "What was audited",
    *[c.title for c in CONCERNS],
    "Policy gate",
    "Findings",
    "Provenance",
    "Glossary",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="headless browser test needs Debian's chromium at /usr/bin/chromium "
    "(apt-get install chromium; .ci/run installs it)",
)


def audit_small_model(root: Path) -> Path:
    """`rai train` a small model on carData::Arrests, then `rai audit` it with the example
    impact assessment and policy, exactly as a user would; returns the report path."""
    from typer.testing import CliRunner

    from raikit.audit.cli import app
    from tests.reports.conftest import EXAMPLES

    runner = CliRunner()
    common = [
        "--data",
        "arrests",
        "--label",
        "released",
        "--sensitive",
        "colour",
        "--sensitive",
        "sex",
    ]
    result = runner.invoke(
        app, ["train", *common, "--epochs", "5", "--out", str(root / "model"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "audit",
            "--model",
            str(root / "model"),
            *common,
            "--n-bootstrap",
            "200",
            "--impact",
            str(EXAMPLES / "impact.yaml"),
            "--policy",
            str(EXAMPLES / "policy.yaml"),
            "--out",
            str(root / "audit"),
        ],
    )
    assert result.exit_code in (0, 1), result.output  # 1: the example policy may fail
    return root / "audit" / "report.html"


@pytest.fixture(scope="module")
def page_report(tmp_path_factory):
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="headless browser test needs the playwright Python package: "
        "pip install -e '.[dev]' (it drives /usr/bin/chromium; no 'playwright install' needed)",
    )
    path = audit_small_model(tmp_path_factory.mktemp("browser"))
    console_errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on(
                "console", lambda m: console_errors.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            result = {
                "headings": page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)"),
                "images": page.eval_on_selector_all(
                    "img.chart",
                    "els => els.map(e => ({src: e.getAttribute('src'), complete: e.complete, "
                    "width: e.naturalWidth, height: e.getBoundingClientRect().height}))",
                ),
                "lights": page.eval_on_selector_all(
                    "table.lights tbody tr",
                    "rows => rows.map(r => getComputedStyle(r.querySelector('.light'))"
                    ".backgroundColor)",
                ),
                "overflow": page.evaluate(
                    "document.documentElement.scrollWidth > window.innerWidth"
                ),
            }
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            screenshot = ARTIFACTS / "report-full-page.png"
            page.screenshot(path=str(screenshot), full_page=True)
            result.update(
                console_errors=console_errors,
                requests=requests,
                url=path.as_uri(),
                screenshot=screenshot,
            )
        finally:
            browser.close()
    return result


def test_no_console_errors(page_report):
    assert page_report["console_errors"] == []


def test_no_network_requests(page_report):
    # The only request is the report file itself; charts are data: URIs, nothing is fetched.
    assert page_report["requests"] == [page_report["url"]]


def test_every_section_heading_is_shown(page_report):
    shown = [" ".join(h.split()) for h in page_report["headings"]]
    for heading in HEADINGS:
        assert any(h.startswith(heading) for h in shown), heading


def test_charts_render_as_non_empty_svg(page_report):
    images = page_report["images"]
    assert len(images) == 7
    for image in images:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100
        svg = base64.b64decode(image["src"].split(",", 1)[1]).decode("utf-8")
        assert "<svg" in svg and svg.count("<path") > 5


def test_traffic_lights_are_coloured(page_report):
    colours = page_report["lights"]
    assert len(colours) == len(CONCERNS)
    assert set(colours) <= {
        "rgb(192, 57, 43)",
        "rgb(224, 168, 0)",
        "rgb(46, 133, 64)",
        "rgb(196, 202, 208)",
    }  # red, amber, green, grey
    assert len(set(colours)) >= 2
    assert not page_report["overflow"]  # nothing wider than a 1280 px window


def test_full_page_screenshot_is_saved(page_report):
    screenshot = page_report["screenshot"]
    assert screenshot.stat().st_size > 50_000
    assert screenshot.read_bytes().startswith(b"\x89PNG")
