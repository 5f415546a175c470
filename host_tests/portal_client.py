# portal_client.py: test helpers for the setup and status pages: DNS queries built
# with the standard library, raw HTTP requests, and a headless Chromium (Debian's
# chromium and chromium-driver, driven by Selenium) at a phone's size.
# MIT license; Copyright (c) 2026 hanmq

import base64
import os
import random
import shutil
import socket
import struct
import tempfile
import time

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: A phone's screen (CSS pixels) and pixel ratio: an iPhone 12/13/14.
PHONE = {"width": 390, "height": 844, "pixelRatio": 2.0}
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)


# -- DNS (RFC 1035 4.1) ------------------------------------------------------------------

def dns_query(name, qtype=1, qid=None, flags=0x0100, qclass=1, extra=b""):
    """A query message: header (ID, flags with RD, QDCOUNT 1), one question."""
    qid = random.randrange(65536) if qid is None else qid
    arcount = 1 if extra else 0
    msg = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, arcount)
    for label in name.split("."):
        msg += bytes([len(label)]) + label.encode()
    return msg + b"\x00" + struct.pack(">HH", qtype, qclass) + extra


#: An EDNS(0) OPT record (RFC 6891) as dig and most resolvers add.
EDNS_OPT = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)


def dns_exchange(port, msg, timeout=1.0):
    """Send msg to 127.0.0.1:port over UDP; the reply, or None if none came."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(msg, ("127.0.0.1", port))
        return s.recvfrom(4096)[0]
    except socket.timeout:
        return None
    finally:
        s.close()


def dns_parse(reply, query):
    """(header fields, answers) of a reply to query; answers: (type, class, ttl, rdata)."""
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply[:12])
    qlen = len(query) - 12 - (len(EDNS_OPT) if query.endswith(EDNS_OPT) else 0)
    assert reply[12 : 12 + qlen] == query[12 : 12 + qlen]  # the question, as asked
    i = 12 + qlen
    answers = []
    for _ in range(an):
        assert reply[i : i + 2] == b"\xc0\x0c"  # a pointer to the question's name
        t, c, ttl, n = struct.unpack(">HHIH", reply[i + 2 : i + 12])
        answers.append((t, c, ttl, reply[i + 12 : i + 12 + n]))
        i += 12 + n
    assert i == len(reply)
    head = dict(id=qid, qr=flags >> 15, opcode=(flags >> 11) & 15, aa=(flags >> 10) & 1,
                tc=(flags >> 9) & 1, rd=(flags >> 8) & 1, rcode=flags & 15, qd=qd, an=an,
                ns=ns, ar=ar)
    return head, answers


# -- HTTP ----------------------------------------------------------------------------------

def raw_http(port, data, timeout=10.0, read=True):
    """Send raw request bytes to 127.0.0.1:port; (status, headers, body) of the answer
    (status None when the connection closed without one)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return s
        out = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        if read:
            s.close()
    return parse_response(out)


def parse_response(out):
    if not out:
        return None, {}, b""
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def get(port, path="/", host=None, auth=None, method="GET", body=b"", headers=()):
    """One request the way a browser sends it; (status, headers, body)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % (host or "127.0.0.1:%d" % port),
             "User-Agent: " + PHONE_UA, "Accept: text/html", "Connection: close"]
    if auth is not None:
        lines.append("Authorization: Basic " + base64.b64encode(auth.encode()).decode())
    if body or method == "POST":
        lines += ["Content-Type: application/x-www-form-urlencoded", "Content-Length: %d" % len(body)]
    lines += list(headers)
    return raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def wait_port(port, timeout=20.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("the firmware stopped")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on port %d" % port)


# -- Chromium --------------------------------------------------------------------------------

def chromium_available():
    return os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)


def phone_browser():
    """Headless Chromium emulating a phone."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    o = webdriver.ChromeOptions()
    o.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="hanmq-chromium-")
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--user-data-dir=" + profile):
        o.add_argument(a)
    o.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE, "userAgent": PHONE_UA})
    driver = webdriver.Chrome(options=o, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(20)
    driver.profile_dir = profile
    return driver


def close_browser(driver):
    try:
        driver.quit()
    finally:
        shutil.rmtree(driver.profile_dir, ignore_errors=True)


def full_page_png(driver, path):
    """A screenshot of the whole page at the emulated phone's width."""
    m = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = m["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": PHONE["width"], "height": size["height"], "scale": 1},
    })
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
