"""Helpers shared by the browser tests."""

from playwright.sync_api import expect


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)
