#!/usr/bin/env python3
"""The connect flow in a real browser: headless Chromium, driven through WebDriver
(chromedriver, plain HTTP JSON), against the deployed local stack. Run by browser.sh, which
deploys the stack with the sandbox's consent pages on another site (localhost) than the
gateway (127.0.0.1), so that the provider's redirect back to the callback is cross-site.

    .venv/bin/python tests/local/browser.py [--screenshots DIR]

1. In profile A, a signed Fitbit link and then a signed Google Health link (same customer
   reference: the Google Health person is the Fitbit person's successor) go through the
   sandbox's consent and land on the "connected" page; the connection is in the table.
2. Profile S starts a Fitbit link but cannot resolve the consent site, so it stops at the
   consent URL, holding the browser binding cookie, whose attributes are checked
   (__Host-, Secure, HttpOnly, SameSite=Lax, Path=/, on the gateway's host). That consent
   URL opened in profile B (another user-data-dir: no cookie), as a login-CSRF victim
   would, passes the sandbox's consent and is refused by our OAuth function (403, "Please
   start again"); the sandbox's token endpoint is not called: no code was redeemed.
3. The Google Health link of step 1, opened again in profile A, shows the used-link page
   (410).

Prints one line per check (PASS or FAIL) and exits non-zero when one fails. Prints no
token, code, state, cookie value or link signature: URLs are shown without their query.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deploy  # noqa: E402
import fbtemplate  # noqa: E402
import sign_link  # noqa: E402

CHROMIUM = os.environ.get("FB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FB_CHROMEDRIVER", "/usr/bin/chromedriver")
# Without these, Chromium tries the network at start (QUIC, component updates, sync) and
# hangs or fails on a machine without one; a fresh user-data-dir per profile keeps the
# profiles apart (cookies included).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=800,600"]
COOKIE = "__Host-fitbridge-connect"
CUSTOMER_REF = "C-BROWSER"
FITBIT_USER = "GGNJL9"  # the Fitbit sandbox's default person
GOOGLE_USER = "4417291730955318562"  # the Google Health sandbox's, Fitbit's successor

failures = 0


def check(name: str, ok: bool, detail: str = "") -> bool:
    global failures
    failures += 0 if ok else 1
    print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({detail})" if detail else ""), flush=True)
    return ok


def bare(url: str) -> str:
    """A URL without its query and fragment: what may be printed."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriverError(Exception):
    pass


class Driver:
    """chromedriver, spoken to in plain HTTP JSON (W3C WebDriver)."""

    def __init__(self, log: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.call("GET", "/status")["ready"]:
                    return
            except (OSError, WebDriverError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"error: chromedriver did not start (log {log})")
            time.sleep(0.2)

    def call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.load(resp)["value"]
        except urllib.error.HTTPError as e:
            value = json.load(e).get("value") or {}
            # The message of a failed navigation may carry the URL: keep its first line only.
            message = str(value.get("message", "")).split("\n")[0].split("?")[0]
            raise WebDriverError(f"{value.get('error', e.code)}: {message}") from None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Profile:
    """One browser profile: a Chromium session with its own, fresh user-data-dir."""

    def __init__(self, driver: Driver, name: str, root: Path, extra_args: tuple[str, ...] = ()):
        self.driver = driver
        self.name = name
        data_dir = root / name
        data_dir.mkdir()
        args = CHROMIUM_ARGS + list(extra_args) + [f"--user-data-dir={data_dir}"]
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}
        started = driver.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        self.session = started["sessionId"]
        self.version = started["capabilities"].get("browserVersion", "?")

    def call(self, method: str, path: str, body: dict | None = None):
        return self.driver.call(method, f"/session/{self.session}{path}", body)

    def cdp(self, cmd: str, params: dict | None = None):
        return self.call("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params or {}})

    def open(self, url: str) -> str | None:
        """Navigates (following redirects); the navigation error, if any."""
        try:
            self.call("POST", "/url", {"url": url})
            return None
        except WebDriverError as e:
            return str(e)

    def script(self, source: str):
        return self.call("POST", "/execute/sync", {"script": source, "args": []})

    def url(self) -> str:
        return self.call("GET", "/url")

    def status(self) -> int | None:
        """The HTTP status of the page shown (the last response of its redirects)."""
        return self.script("const n = performance.getEntriesByType('navigation')[0];"
                           " return n ? n.responseStatus : null;")

    def title(self) -> str:
        return self.call("GET", "/title")

    def text(self) -> str:
        return self.script("return document.body ? document.body.innerText : '';")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("GET", "/screenshot")))
        print(f"      screenshot {path} ({path.stat().st_size // 1024} KiB)", flush=True)

    def cookies(self) -> list[dict]:
        """Every cookie the profile holds, with its attributes (values left out)."""
        return [{k: v for k, v in c.items() if k != "value"}
                for c in self.cdp("Storage.getCookies")["cookies"]]

    def quit(self) -> None:
        try:
            self.call("DELETE", "")
        except (OSError, WebDriverError):
            pass


def connection(ddb, table: str, provider: str, user_id: str) -> dict | None:
    item = ddb.get_item(TableName=table, ConsistentRead=True,
                        Key={"pk": {"S": f"CONN#{provider}#{user_id}"},
                             "sk": {"S": "CONNECTION"}}).get("Item")
    return item


def sandbox_stats(sandbox: str, provider: str) -> dict:
    with urllib.request.urlopen(f"{sandbox}/_admin/{provider}/stats", timeout=10) as resp:
        return json.load(resp)


def token_calls(stats: dict) -> int:
    return sum(sum(by_outcome.values()) for by_outcome in stats["token_requests"].values())


def page_check(name: str, profile: Profile, *, status: int, title: str, url_path: str) -> None:
    got_status, got_title = profile.status(), profile.title()
    text, url = profile.text(), profile.url()
    check(f"{name}: HTTP {status}", got_status == status, f"got {got_status} at {bare(url)}")
    check(f"{name}: page", title in got_title and title in text, f"title {got_title!r}")
    check(f"{name}: at {url_path}", urlsplit(url).path == url_path, bare(url))


def connect(profile: Profile, link: str, provider: str, ddb, table: str, user_id: str,
            shots: Path, shot: str | None, started: float) -> None:
    error = profile.open(link)
    check(f"{provider}: navigation", error is None, error or "")
    page_check(f"{provider} connected", profile, status=200, title="Your account is connected",
               url_path=f"/oauth/callback/{provider}")
    if shot:
        profile.screenshot(shots / shot)
    item = connection(ddb, table, provider, user_id)
    check(f"{provider}: connection stored", item is not None, f"CONN#{provider}#{user_id}")
    if item:
        status = item.get("status", {}).get("S")
        check(f"{provider}: connection active", status == "active", f"status {status}")
        # Written by this run, not left over from an earlier one (unix seconds).
        stamps = [int(float(item[k]["N"])) for k in ("updated_at", "connected_at") if k in item]
        if check(f"{provider}: connection has its times", bool(stamps), ", ".join(
                k for k in ("updated_at", "connected_at") if k in item)):
            check(f"{provider}: connection written now", max(stamps) >= int(started) - 1,
                  f"{max(stamps) - int(started):+d} s from the start of the run")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--screenshots", default=str(fbtemplate.LOCAL / "screenshots"),
                    help="where the PNGs go (default: the stack's state directory)")
    args = ap.parse_args()
    shots = Path(args.screenshots)
    shots.mkdir(parents=True, exist_ok=True)

    deploy.check_emulator()
    st = fbtemplate.load_stack_json()
    gateway, sandbox = st["gatewayUrl"].rstrip("/"), st["sandboxUrl"].rstrip("/")
    key = st["connectLinkKey"]
    params = st["parameters"]
    table = st["outputs"]["TableName"]
    ddb = deploy.client("dynamodb")
    consent_site = urlsplit(params["FitbitAuthorizeUrl"]).hostname
    check("consent pages on another site than the gateway",
          consent_site != urlsplit(gateway).hostname,
          f"gateway {urlsplit(gateway).hostname}, consent {consent_site}")

    def link(provider: str) -> str:
        now = int(time.time())
        query = sign_link.link_query(key, provider, CUSTOMER_REF, now, now + 900)
        return f"{gateway}/connect/{provider}?{query}"

    started = time.time()
    root = Path(tempfile.mkdtemp(prefix="fb-browser-"))
    driver = Driver(fbtemplate.LOCAL / "chromedriver.log")
    profiles: list[Profile] = []
    try:
        a = Profile(driver, "profile-a", root)
        profiles.append(a)
        print(f"      chromium {a.version}", flush=True)

        # 1. Connect, in one profile, through the sandbox's consent.
        connect(a, link("fitbit"), "fitbit", ddb, table, FITBIT_USER, shots, None, started)
        google_link = link("google-health")
        connect(a, google_link, "google-health", ddb, table, GOOGLE_USER, shots,
                "connect-connected.png", started)

        # 2. A connect started in profile S, which cannot resolve the consent site and so
        # stops at the consent URL holding its cookie; that URL opened in profile B.
        unresolvable = f"--host-resolver-rules=MAP {consent_site} ~NOTFOUND"
        s = Profile(driver, "profile-s", root, (unresolvable,))
        profiles.append(s)
        error = s.open(link("fitbit"))
        consent_url = s.url()
        check("S: stopped at the consent URL",
              bare(consent_url) == params["FitbitAuthorizeUrl"], f"{bare(consent_url)}, {error}")
        cookies = [c for c in s.cookies() if c["name"] == COOKIE]
        check("S: one browser binding cookie", len(cookies) == 1, f"{len(cookies)} named {COOKIE}")
        if cookies:
            c = cookies[0]
            attrs = {k: c.get(k)
                     for k in ("domain", "path", "secure", "httpOnly", "sameSite", "session",
                               "sourceScheme")}
            check("S: cookie attributes",
                  c.get("domain") == urlsplit(gateway).hostname and c.get("path") == "/"
                  and c.get("secure") is True and c.get("httpOnly") is True
                  and c.get("sameSite") == "Lax" and not c.get("session"),
                  json.dumps(attrs))
        b = Profile(driver, "profile-b", root)
        profiles.append(b)
        check("B: holds no cookie", not b.cookies())
        before = token_calls(sandbox_stats(sandbox, "fitbit"))
        error = b.open(consent_url)
        check("B: navigation", error is None, error or "")
        page_check("B: other browser refused", b, status=403, title="Please start again",
                   url_path="/oauth/callback/fitbit")
        check("B: page says why", "finish in the browser where it started" in b.text())
        b.screenshot(shots / "connect-other-browser.png")
        after = token_calls(sandbox_stats(sandbox, "fitbit"))
        check("B: no code redeemed", after == before, f"token requests {before} -> {after}")

        # 3. The Google Health link of step 1, again.
        error = a.open(google_link)
        check("used link: navigation", error is None, error or "")
        page_check("used link", a, status=410, title="This link was already used",
                   url_path="/connect/google-health")
        a.screenshot(shots / "connect-used-link.png")
    finally:
        for p in profiles:
            p.quit()
        driver.close()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{'FAIL' if failures else 'PASS'}  browser connect flow: {failures} failed"
          f" ({time.time() - started:.1f} s)", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
