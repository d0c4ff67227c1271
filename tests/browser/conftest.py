"""Playwright driving Debian's Chromium (apt-get install chromium) against a live server.
Browsers are not downloaded: the machine's Chromium is launched by path."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("BATCHWORKS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"
# What a headless Chromium needs on a machine without a network or a sandbox for root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session", autouse=True)
def orm_beside_playwright():
    """Playwright's sync API runs an event loop in the test thread; the ORM calls the tests
    make around it are still synchronous and safe. Session-wide, since the browser is;
    tests that check a deployment's environment leave it out of their subprocesses."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        message = f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page, username: str, password: str = "password") -> None:
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    # On the dashboard: "**/" would match the login page itself (/login?next=/), and the
    # test's next navigation could overtake the login.
    page.wait_for_url(lambda url: urlsplit(url).path == "/")
    page.wait_for_load_state("load")


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def mark_page(page) -> None:
    """Tag the loaded document: still tagged later means no full reload happened."""
    page.evaluate("window.__sameDocument = true")


def same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def go_to(page, section: str) -> None:
    """Follow the main navigation, as a person does, and wait for the page's load event:
    before it, htmx (a deferred script) may not yet listen to the controls."""
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name=section, exact=True)
    path = link.get_attribute("href")
    link.click()
    page.wait_for_url(lambda url: urlsplit(url).path == path)
