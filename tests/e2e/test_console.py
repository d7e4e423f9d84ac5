"""The web console (`/ui`) in a real browser: Debian's chromium (never a downloaded one), driven by Playwright, against
a real server with keys on. Every page is checked for console errors and refused requests; each test leaves a
screenshot (in docs/images with `CONSOLE_SCREENSHOTS=docs/images`, as `make screenshots` does)."""

from __future__ import annotations

import base64
import io
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import skimage
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, expect, sync_playwright

from aiserve.bench.server import ServerProcess
from tests.e2e.conftest import own_home

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing: apt-get install chromium"),
]

ADMIN = "sk-console-admin-" + "d" * 32
COFFEE = Path(skimage.__file__).parent / "data" / "coffee.png"
METERED = ("/v1/chat/completions", "/v1/classify", "/v1/embeddings", "/v1/rerank")
VIEWPORT: ViewportSize = {"width": 1100, "height": 750}


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = own_home(data_dir, tmp_path_factory, "console")
    with ServerProcess(["--data-dir", str(home)], api_key=ADMIN, env={"AISERVE_AUTH__CACHE_S": "0"}) as proc:
        yield proc


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60) as client:
        yield client


def new_key(http: httpx.Client, user: str, scopes: list[str]) -> str:
    """A new user with one key carrying `scopes`."""
    assert http.post("/v1/admin/users", json={"name": user}).status_code == 201
    made = http.post("/v1/admin/keys", json={"user": user, "scopes": scopes})
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    return key


@pytest.fixture(scope="module")
def user_key(http: httpx.Client) -> str:
    return new_key(http, "console-user", ["inference", "usage:read"])


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("CONSOLE_SCREENSHOTS")  # where `make screenshots` wants them
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Console:
    """One browser tab on the console, recording what a test must not see: console errors, uncaught exceptions,
    and every request it made with its answer's status."""

    page: Page
    url: str
    shots: Path
    errors: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path, status) of each answered request."""

    def open(self, route: str = "") -> None:
        self.page.goto(f"{self.url}/ui/#/{route}")

    def sign_in(self, key: str) -> None:
        self.open()
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()

    def go(self, route: str) -> None:
        """Follow the console's own navigation (no reload)."""
        self.page.evaluate("route => { location.hash = route; }", f"#/{route}")

    def shot(self, name: str) -> None:
        """A screenshot of the tab, in 256 colours (a third of the bytes, the same to the eye)."""
        taken = Image.open(io.BytesIO(self.page.screenshot())).convert("RGB")
        small = taken.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        small.save(self.shots / f"console-{name}.png", optimize=True)

    def api_calls(self) -> list[tuple[str, str, int]]:
        return [call for call in self.calls if call[1].startswith("/v1/")]


@pytest.fixture
def console(browser: Browser, server: ServerProcess, shots: Path) -> Iterator[Console]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    page = context.new_page()
    tab = Console(page, server.url, shots)
    page.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    page.on("response", lambda answer: tab.calls.append((answer.request.method, urlparse(answer.url).path,
                                                          answer.status)))  # fmt: skip
    yield tab
    context.close()
    assert tab.errors == [], "the console logged errors"


def test_every_answer_carries_a_strict_content_security_policy(console: Console) -> None:
    answer = console.page.goto(f"{console.url}/ui")  # redirected to /ui/
    assert answer is not None
    assert answer.url == f"{console.url}/ui/"
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "unsafe" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    inline = "document.querySelectorAll('script:not([src]), style, [style]').length"
    expect(console.page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert console.page.evaluate(inline) == 0
    console.shot("signin")


def test_the_key_lives_in_session_storage_only_and_signing_out_forgets_it(console: Console, user_key: str) -> None:
    page = console.page
    console.open()
    expect(page.get_by_label("API key")).to_be_focused()  # by keyboard alone: type the key, press Enter
    page.keyboard.type("sk-not-a-key-" + "x" * 32)
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert").filter(has_text="not valid")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert [e for e in console.errors if "401" not in e] == []  # the browser logs the refused key's 401
    console.errors.clear()

    console.sign_in(user_key)
    assert page.evaluate("sessionStorage.getItem('aiserve.key')") == user_key
    assert not page.evaluate("key => Object.values(localStorage).some(value => value.includes(key))", user_key)
    assert page.evaluate("document.cookie") == ""
    assert page.context.cookies() == []
    assert user_key not in page.url
    page.reload()  # the tab keeps its session
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert all(user_key not in path for _, path, _ in console.calls)


GROWTH = """() => {
    window.growth = [];
    const log = document.getElementById("chat-log");
    new MutationObserver(() => {
        const answer = log.querySelector(".msg-assistant:last-child");
        if (answer) window.growth.push([answer.dataset.state, answer.querySelector(".text").textContent.length]);
    }).observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


def test_chat_streams_tokens_as_they_arrive_and_stops_on_demand(console: Console, user_key: str) -> None:
    page = console.page
    console.sign_in(user_key)
    console.go("chat")
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max tokens").fill("40")
    page.get_by_label("System prompt").fill("Answer in one short sentence.")
    page.evaluate(GROWTH)
    page.get_by_label("Message").fill("What is the capital of France?")
    page.get_by_label("Message").press("Enter")
    answer = page.locator(".msg-assistant").last
    expect(answer).to_have_attribute("data-state", "done", timeout=120_000)
    assert "Paris" in answer.locator(".text").inner_text()
    streaming = {length for state, length in page.evaluate("window.growth") if state == "streaming" and length}
    assert len(streaming) >= 3, f"the answer did not grow while it streamed: {sorted(streaming)}"
    console.shot("chat")

    page.get_by_label("Max tokens").fill("400")
    page.get_by_label("Message").fill("Tell me a very long story about a dragon and a knight.")
    page.get_by_role("button", name="Send").click()
    answer = page.locator(".msg-assistant").last
    expect(answer.locator(".text")).not_to_have_text("", timeout=120_000)
    page.get_by_role("button", name="Stop").click()
    expect(answer).to_have_attribute("data-state", "stopped")
    expect(answer.locator(".meta")).to_contain_text("stopped")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_classify_a_photo_of_coffee_chosen_or_dropped(console: Console, user_key: str) -> None:
    page = console.page
    console.sign_in(user_key)
    console.go("classify")
    page.locator("#classify-file").set_input_files(COFFEE)
    bars = page.get_by_role("list", name="Labels, likeliest first")
    expect(bars.locator("li").first).to_contain_text("espresso", timeout=60_000)
    console.shot("classify")

    bars.evaluate("list => list.replaceChildren()")
    photo = base64.b64encode(COFFEE.read_bytes()).decode()
    dropped = page.evaluate_handle(
        """photo => {
            const bytes = Uint8Array.from(atob(photo), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "coffee.png", { type: "image/png" }));
            return transfer;
        }""",
        photo,
    )
    page.dispatch_event("#classify-drop", "drop", {"dataTransfer": dropped})
    expect(bars.locator("li").first).to_contain_text("espresso", timeout=60_000)


def test_embeddings_compare_as_a_heatmap_and_rerank_puts_the_best_first(console: Console, user_key: str) -> None:
    page = console.page
    console.sign_in(user_key)
    console.go("embeddings")
    page.get_by_role("button", name="Compare").click()
    heatmap = page.locator("#embeddings-heatmap")
    expect(heatmap).to_be_visible(timeout=60_000)
    expect(heatmap.locator("tbody tr")).to_have_count(5)
    diagonal = [heatmap.locator(f"tbody tr:nth-child({i}) td").nth(i - 1).inner_text() for i in range(1, 6)]
    assert diagonal == ["1.00"] * 5
    console.shot("embeddings")

    console.go("rerank")
    page.get_by_role("button", name="Rerank").click()
    results = page.get_by_role("list", name="Documents, most relevant first").locator("li")
    expect(results).to_have_count(4, timeout=60_000)
    assert re.search(r"dog|bark", results.first.inner_text())
    assert "Paris" not in results.first.inner_text()
    console.shot("rerank")


def test_the_dashboard_counts_the_requests_just_made(console: Console, http: httpx.Client) -> None:
    page = console.page
    console.sign_in(new_key(http, "console-usage", ["inference", "usage:read"]))
    console.go("embeddings")
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#embeddings-heatmap")).to_be_visible(timeout=60_000)
    console.go("rerank")
    page.get_by_role("button", name="Rerank").click()
    expect(page.locator("#rerank-results li")).to_have_count(4, timeout=60_000)
    console.go("classify")
    page.locator("#classify-file").set_input_files(COFFEE)
    expect(page.locator("#classify-bars li").first).to_contain_text("espresso", timeout=60_000)
    made = [call for call in console.api_calls() if call[1] in METERED]
    assert len(made) == 3

    console.go("dashboard")
    requests = page.locator("#dashboard-totals div").filter(has_text="Requests").locator("dd")
    deadline = time.monotonic() + 30
    while requests.inner_text() != "3":  # the ledger is written in batches, twice a second
        assert time.monotonic() < deadline, f"the dashboard shows {requests.inner_text()} requests, not 3"
        page.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(300)
    today = page.locator("#dashboard-days-table tbody tr").last
    assert today.locator("td").first.text_content() == "3"  # what the per-day chart plots (in a closed <details>)
    expect(page.locator("#chart-requests canvas").first).to_be_visible()
    expect(page.get_by_role("list", name="Requests per model").locator("li")).to_have_count(3)
    console.shot("dashboard")
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(200)
    console.shot("dashboard-dark")


def test_an_admin_makes_a_key_sees_it_once_and_revokes_it(console: Console, server: ServerProcess) -> None:
    page = console.page
    console.sign_in(ADMIN)
    console.go("admin")
    models = page.locator("#state-models tbody tr")
    expect(models).to_have_count(4)
    expect(page.locator("#state-totals")).to_contain_text("Requests answered")
    question = {"model": "smollm2-135m-instruct", "max_tokens": 120, "temperature": 0,
                "messages": [{"role": "user", "content": "Describe the sea in many words."}]}  # fmt: skip
    with ThreadPoolExecutor(1) as pool:  # something to watch: tokens per second while it answers
        answer = pool.submit(httpx.post, f"{server.url}/v1/chat/completions", json=question,
                             headers={"Authorization": f"Bearer {ADMIN}"}, timeout=120)  # fmt: skip
        chat = page.locator("#state-models tbody tr").filter(has_text="smollm2")
        expect(chat.locator("td").nth(6)).not_to_have_text("0", timeout=30_000)  # tokens/s over the last reading
        console.shot("admin")
        assert answer.result().status_code == 200

    console.go("admin/users")
    page.get_by_label("New user").fill("console-guest")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("#users-table")).to_contain_text("console-guest")

    console.go("admin/keys")
    page.get_by_label("User", exact=True).fill("console-guest")
    page.get_by_label("What it is for").fill("made in the console")
    page.get_by_role("button", name="Create key").click()
    shown = page.locator("#key-created-value")
    expect(shown).to_be_visible()
    key = shown.input_value()
    assert key.startswith("sk-")
    me = httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json()["user"] == "console-guest"
    prefix = me.json()["key_prefix"]
    page.get_by_role("button", name="I have stored it").click()
    expect(shown).to_be_hidden()
    assert key not in page.content()
    page.reload()
    expect(page.locator(f"#keys-table tr[data-prefix='{prefix}']")).to_contain_text("active")
    assert key not in page.content()
    console.shot("admin-keys")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Revoke sk-{prefix}…").click()
    expect(page.locator(f"#keys-table tr[data-prefix='{prefix}'] .state")).to_have_text("revoked")
    assert httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401

    console.go("admin/models")
    expect(page.locator("#models-table tbody tr")).to_have_count(4)
    console.shot("admin-models")


def test_an_inference_only_key_never_sees_admin_pages_nor_calls_routes_it_may_not_use(
    console: Console, http: httpx.Client
) -> None:
    page = console.page
    console.sign_in(new_key(http, "console-inference", ["inference"]))
    links = page.get_by_role("navigation", name="Console").get_by_role("link")
    expect(links).to_have_text(["Chat", "Classify", "Embeddings", "Rerank"])
    for route in ("chat", "classify", "embeddings", "rerank"):
        console.go(route)
        expect(page.locator(f"#view-{route}")).to_be_visible()
    for route in ("dashboard", "admin", "admin/keys"):
        console.go(route)
        expect(page.get_by_role("heading", name="Not available")).to_be_visible()
        expect(page.locator("#view-admin")).to_be_hidden()
        expect(page.locator("#view-dashboard")).to_be_hidden()
    page.set_viewport_size({"width": 390, "height": 760})
    console.go("classify")
    page.locator("#classify-file").set_input_files(COFFEE)
    expect(page.locator("#classify-bars li").first).to_contain_text("espresso", timeout=60_000)
    console.shot("phone")
    calls = console.api_calls()
    assert {path for _, path, _ in calls} == {"/v1/me", "/v1/models", "/v1/classify"}
    assert all(status < 400 for _, _, status in calls), calls
