"""GraphiQL in headless Chromium (Debian's, driven by Playwright; no browser is ever downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.server import Server

QUERY = '{ bundle(productId: "C02", k: 3) { score reason product { id title } } }'


@pytest.mark.browser
def test_graphiql_runs_a_bundle_query(server: Server, chromium: Any, tmp_path: Path) -> None:
    page = chromium.new_page()
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
    assert '"title": "Lens L02"' in text and '"reason"' in text
    assert (tmp_path / "graphiql-bundle.png").stat().st_size > 0
