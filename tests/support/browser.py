# -*- test-case-name: tests.processes.test_console_browser -*-
"""
A real browser for the console's tests: Debian's C{chromium}, headless,
driven by selenium (the test extra) through Debian's C{chromedriver}.

A missing browser, driver or selenium makes the tests skip with a
one-line reason, except when C{$RESONATE_TEST_BROWSER} is C{required}
(C{.ci/run} sets it, after installing both): then it fails them.

Selenium is blocking: the tests run their browser steps in a thread, so
that the reactor goes on reading the server process's output.
"""

import base64
import os
import shutil
from unittest import SkipTest

#: The browser and its driver, where Debian's packages put them.
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

#: Set to C{required} to fail, not skip, when the browser is missing.
BROWSER_VARIABLE = "RESONATE_TEST_BROWSER"

#: Seconds the browser waits for a page, and the tests for what a page
#: shows.
WAIT = 15

#: The sizes the tests render at: a laptop's window, and a phone's
#: viewport (CSS pixels).
DESKTOP = (1280, 900)
PHONE = (390, 844)


class BrowserUnavailable(Exception):
    """
    The browser cannot be had where it is required; the message says why.
    """


def _executable(path, name):
    if os.access(path, os.X_OK):
        return path
    return shutil.which(name)


def problem():
    """
    Why no browser can be driven here, in one line, or L{None}.
    """
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if _executable(CHROMIUM, "chromium") is None:
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if _executable(CHROMEDRIVER, "chromedriver") is None:
        return f"no chromedriver at {CHROMEDRIVER} (apt-get install chromium-driver)"
    return None


def requireBrowser():
    """
    Skip the test, or fail it where the browser is required, unless a
    browser can be driven.

    @raise SkipTest: no browser, and none is required.
    @raise BrowserUnavailable: no browser, and one is required.
    """
    reason = problem()
    if reason is None:
        return
    if os.environ.get(BROWSER_VARIABLE) == "required":
        raise BrowserUnavailable(f"{BROWSER_VARIABLE}=required, but {reason}")
    raise SkipTest(reason)


def startBrowser(username=None, password=None, size=DESKTOP):
    """
    Start a headless chromium, its console messages logged, with a
    window of C{size}.  With a user name, every request it makes carries
    these basic auth credentials (set through the DevTools protocol, so
    that the page's own fetches carry them as a person's browser does once
    they are typed in).

    @return: a selenium C{WebDriver}; C{quit()} it.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _executable(CHROMIUM, "chromium")
    for argument in [
        "--headless=new",
        # Root in a container: chromium's sandbox cannot start.
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        f"--window-size={size[0]},{size[1]}",
    ]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=_executable(CHROMEDRIVER, "chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(WAIT)
        if username is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd(
                "Network.setExtraHTTPHeaders",
                {"headers": {"Authorization": f"Basic {token}"}},
            )
    except BaseException:
        driver.quit()
        raise
    return driver


def setViewport(driver, size):
    """
    Render at a viewport of C{size} CSS pixels, one device pixel each (a
    headless window's outer size is its viewport's).
    """
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def consoleErrors(driver):
    """
    The browser's console messages of level SEVERE (script errors, failed
    loads, refused content) since the last call.
    """
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
