"""GraphiQL in headless Chromium (Debian's, driven by Playwright; no browser is ever downloaded)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.api.server import Server

QUERY = '{ bundle(productId: "C02", k: 3) { score reason product { id title } } }'


@pytest.mark.browser
def test_graphiql_runs_a_bundle_query(server: Server, chromium: Any) -> None:
    page = chromium.new_page()
    page.goto(server.url + "/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror").first
    editor.wait_for(timeout=15_000)
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(QUERY)  # insert, not type: CodeMirror would auto-close each brace
    response = page.locator(".graphiql-response")
    empty = pixels(response.screenshot())
    page.locator(".graphiql-execute-button").click()
    # the model ranks L03 first (the observed list has L02): GraphiQL shows what the model serves
    response.get_by_text("Lens L03").wait_for(timeout=15_000)
    text = response.inner_text()
    assert '"title": "Lens L03"' in text and '"reason"' in text
    # and it is drawn, not only in the DOM: the pane's pixels changed where the answer's lines are
    answered = pixels(response.screenshot())
    assert answered.shape == empty.shape
    changed = (np.abs(answered.astype(int) - empty.astype(int)).sum(axis=2) > 60).mean()
    assert changed > 0.005, changed  # about 0.016 with the answer drawn; nothing drawn is 0


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
