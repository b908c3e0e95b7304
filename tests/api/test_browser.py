"""GraphiQL in headless Chromium (Debian's, driven by Playwright; no browser is ever downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.api.server import Server

CHROMIUM = "/usr/bin/chromium"
QUERY = '{ bundle(productId: "C02", k: 3) { score reason product { id title } } }'


@pytest.mark.browser
def test_graphiql_runs_a_bundle_query(server: Server, tmp_path: Path) -> None:
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # a fresh profile each run: Playwright takes it as user_data_dir rather than a --user-data-dir flag
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
            viewport={"width": 1400, "height": 900},
        )
        try:
            page = context.new_page()
            page.goto(server.url + "/graphql")
            editor = page.locator(".graphiql-query-editor .CodeMirror").first
            editor.wait_for(timeout=15_000)
            editor.click()
            page.keyboard.press("Control+A")
            page.keyboard.press("Delete")
            page.keyboard.insert_text(QUERY)  # insert, not type: CodeMirror would auto-close each brace
            page.locator(".graphiql-execute-button").click()
            response = page.locator(".graphiql-response")
            response.get_by_text("Lens L02").wait_for(timeout=15_000)
            page.screenshot(path=str(tmp_path / "graphiql-bundle.png"))
            text = response.inner_text()
        finally:
            context.close()
    assert '"title": "Lens L02"' in text and '"reason"' in text
    assert (tmp_path / "graphiql-bundle.png").stat().st_size > 0
