# -*- test-case-name: tests.processes.test_console_browser -*-
"""
The console in a real browser (headless chromium, L{tests.support.browser})
against a real C{twist resonate} with basic auth on, over SQLite and, when
C{RESONATE_TEST_POSTGRES_DSN} is set, PostgreSQL: its pages show what the
API made, its filters work, it refreshes by itself, an action taken in it
changes the store, it fits a phone, and the browser logs no error.

With C{RESONATE_CONSOLE_SCREENSHOT=PATH} the SQLite run saves a screenshot
of a workflow's page there (C{docs/console.png}).
"""

import base64
import json
import os
import time
import urllib.error
import urllib.request

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from resonate.api.auth import basicAuthorization
from resonate.console.pages import REFRESH_SECONDS
from tests.support import browser
from tests.support.processtools import HTTPClient, sqliteFlags, startResonate, stopResonate

USER = "console"
PASSWORD = "pa55:word"
AUTH = {"authorization": basicAuthorization(USER, PASSWORD).decode("ascii")}

#: Where to save a screenshot of the console, when set.
SCREENSHOT_VARIABLE = "RESONATE_CONSOLE_SCREENSHOT"

#: A promise timeout far in the future: 2100-01-01.
FAR = 4102444800000

#: Seconds between two refreshes of a console page.
REFRESH = REFRESH_SECONDS


def _data(obj):
    return base64.b64encode(json.dumps(obj).encode()).decode()


def _call(func, *args):
    return {"func": func, "args": list(args), "kwargs": {}, "version": 1}


def setHidden(driver, hidden):
    """
    Make the page believe it is hidden (or shown again), as when another
    tab is brought to the front: a headless browser's pages never are.
    """
    driver.execute_script(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => arguments[0]});"
        "document.dispatchEvent(new Event('visibilitychange'));",
        hidden,
    )


class APIClient:
    """
    Blocking requests to the server's API with the credentials, for the
    browser steps' thread.
    """

    def __init__(self, url):
        self.url = url

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={**AUTH, "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=browser.WAIT) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


class ConsoleBrowserTestsMixin:
    """
    One server and one browser session per test; the store comes from
    L{storeFlags}.
    """

    screenshot = False
    checkPause = False

    def storeFlags(self):
        raise NotImplementedError

    async def makeData(self, api):
        """
        Promises of both protocols, a workflow of the 2026 SDKs' shape, a
        schedule and a lock, made through the API.
        """

        async def ok(method, path, body, codes=(200, 201)):
            answer = await api.request(method, path, body, AUTH)
            self.assertIn(answer.code, codes, (path, body, answer))
            return answer

        async def rpc(kind, data):
            answer = await ok("POST", "/", {"kind": kind, "head": {"corrId": "t", "version": "2026-04-01"}, "data": data})
            self.assertEqual(answer.body["head"]["status"], 200, answer)
            return answer.body["data"]

        await ok("POST", "/promises", {"id": "order-1", "timeout": FAR, "tags": {"team": "billing"}})
        await ok("POST", "/promises", {"id": "order-2", "timeout": FAR, "tags": {"team": "shipping"}})
        await ok("PATCH", "/promises/order-2", {"state": "RESOLVED"})
        await ok("POST", "/promises", {"id": "cancel-me", "timeout": FAR})

        def tags(promiseId, parent):
            return {
                "resonate:origin": "checkout-7", "resonate:branch": promiseId,
                "resonate:parent": parent, "resonate:scope": "global",
                "resonate:target": "poll://any@workers",
            }

        workflow = [
            ("checkout-7", "checkout-7", _call("checkout", 7)),
            ("checkout-7:1", "checkout-7", _call("reserve_stock", 7)),
            ("checkout-7:1.1", "checkout-7:1", _call("audit", "stock")),
            ("checkout-7:2", "checkout-7", _call("charge_card", 7, 42.5)),
            ("checkout-7:3", "checkout-7", _call("ship", 7)),
        ]
        for promiseId, parent, param in workflow:
            await rpc("promise.create", {
                "id": promiseId, "timeoutAt": FAR, "param": {"data": _data(param)},
                "tags": tags(promiseId, parent),
            })
        for promiseId, state, value in [
            ("checkout-7:1.1", "resolved", True),
            ("checkout-7:1", "resolved", {"reserved": 3}),
            ("checkout-7:2", "rejected", {"error": "card declined"}),
        ]:
            await rpc("promise.settle", {"id": promiseId, "state": state, "value": {"data": _data(value)}})
        await ok("POST", "/schedules", {
            "id": "nightly-report", "cron": "0 3 * * *",
            "promiseId": "report.{{.timestamp}}", "promiseTimeout": 3_600_000,
        })
        await ok("POST", "/locks/acquire", {
            "resourceId": "inventory", "processId": "worker-3",
            "executionId": "checkout-7", "expiryInMilliseconds": 600_000,
        })

    async def test_console(self):
        """
        The console, driven by a person's steps in a browser with the
        credentials: see, filter, watch it refresh (and pause while
        hidden, on one store), cancel a promise after confirming (and not
        after declining), read a workflow's tree, invoke a function,
        delete a schedule, read the tasks and locks, and fit a phone's
        screen; no error in the browser's log.
        """
        browser.requireBrowser()
        server = await startResonate(
            self, *self.storeFlags(),
            "--api-http-auth-username", USER, "--api-http-auth-password", PASSWORD,
        )
        await self.makeData(HTTPClient(server.url))
        started = time.monotonic()
        await deferToThread(self.browse, server.url)
        self.browseSeconds = time.monotonic() - started
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)

    def browse(self, url):
        """
        The browser's steps (blocking: run in a thread).
        """
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import Select, WebDriverWait

        api = APIClient(url)
        root = url + "/console/"
        driver = browser.startBrowser(USER, PASSWORD)

        def wait(condition, message):
            return WebDriverWait(driver, browser.WAIT).until(condition, message)

        # The live section is replaced every few seconds: what the steps
        # read of it is read in one script, and a click that meets a
        # replaced element is tried again on the new one.
        def texts(selector):
            return driver.execute_script(
                "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent);",
                selector,
            )

        def rowIds():
            return driver.execute_script(
                "return Array.from(document.querySelectorAll('#live tbody tr[data-id]'),"
                " row => row.dataset.id);"
            )

        def click(selector):
            for attempt in range(3):
                try:
                    driver.find_element(By.CSS_SELECTOR, selector).click()
                    return
                except StaleElementReferenceException:
                    if attempt == 2:
                        raise

        def state(promiseId):
            code, body = api.request("GET", "/promises/" + promiseId)
            self.assertEqual(code, 200, body)
            return body["state"]

        try:
            # The list, newest first.
            driver.get(root)
            wait(lambda d: rowIds(), "the promise list shows rows")
            self.assertEqual(
                rowIds(),
                ["checkout-7:3", "checkout-7:2", "checkout-7:1.1", "checkout-7:1",
                 "checkout-7", "cancel-me", "order-2", "order-1"],
            )

            # Filters: state, then a tag.
            Select(driver.find_element(By.NAME, "state")).select_by_value("pending")
            driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
            wait(lambda d: "state=pending" in d.current_url, "the state filter is applied")
            self.assertEqual(
                sorted(rowIds()), ["cancel-me", "checkout-7", "checkout-7:3", "order-1"]
            )
            field = driver.find_element(By.NAME, "tag")
            field.send_keys("team=billing")
            field.submit()
            wait(lambda d: "tag=team" in d.current_url, "the tag filter is applied")
            self.assertEqual(rowIds(), ["order-1"])

            # It refreshes by itself: a promise made meanwhile appears.
            driver.get(root + "promises?id=order-*")
            wait(lambda d: rowIds() == ["order-2", "order-1"], "the id filter is applied")
            code, body = api.request("POST", "/promises", {"id": "order-3", "timeout": FAR})
            self.assertEqual(code, 201, body)
            WebDriverWait(driver, 3 * REFRESH).until(
                lambda d: rowIds() == ["order-3", "order-2", "order-1"],
                "the list refreshes by itself",
            )
            if self.checkPause:
                # Hidden (another tab in front), it stops; shown again, it
                # refreshes at once.
                setHidden(driver, True)
                time.sleep(0.5)
                code, body = api.request("POST", "/promises", {"id": "order-4", "timeout": FAR})
                self.assertEqual(code, 201, body)
                time.sleep(REFRESH + 1.5)
                self.assertEqual(rowIds(), ["order-3", "order-2", "order-1"])
                setHidden(driver, False)
                WebDriverWait(driver, REFRESH / 2).until(
                    lambda d: rowIds()[:1] == ["order-4"],
                    "the list refreshes once shown again",
                )

            # Declining the confirmation does nothing; confirming cancels.
            driver.get(root + "promise?id=order-1")
            driver.find_element(By.CSS_SELECTOR, "button.action-cancel").click()
            alert = wait(expected_conditions.alert_is_present(), "a confirmation")
            self.assertEqual(alert.text, "Cancel promise order-1?")
            alert.dismiss()
            driver.get(root + "promise?id=cancel-me")
            driver.find_element(By.CSS_SELECTOR, "button.action-cancel").click()
            alert = wait(expected_conditions.alert_is_present(), "a confirmation")
            self.assertEqual(alert.text, "Cancel promise cancel-me?")
            alert.accept()
            wait(
                lambda d: d.find_element(By.ID, "notice").text == "cancel-me is rejected_canceled",
                "the action's answer is shown",
            )
            self.assertEqual(state("cancel-me"), "REJECTED_CANCELED")
            self.assertEqual(state("order-1"), "PENDING")
            wait(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#live dd .state-rejected_canceled"),
                "the page shows the promise canceled",
            )

            # A workflow's call tree.
            driver.get(root + "workflow?id=checkout-7")
            wait(lambda d: texts("#live ul.tree .node"), "the tree is shown")
            self.assertEqual(
                texts("#live ul.tree .node > a"),
                ["checkout-7", "checkout-7:1", "checkout-7:1.1", "checkout-7:2", "checkout-7:3"],
            )
            self.assertEqual(
                texts("#live ul.tree .node > .state"),
                ["pending", "resolved", "resolved", "rejected", "pending"],
            )
            self.assertEqual(
                texts("#live ul.tree .node > .func"),
                ["checkout", "reserve_stock", "audit", "charge_card", "ship"],
            )
            path = os.environ.get(SCREENSHOT_VARIABLE)
            if self.screenshot and path:
                driver.find_element(By.CSS_SELECTOR, "details.invoke summary").click()
                self.assertTrue(driver.save_screenshot(path), path)

            # Invoke a function from the form, after confirming.
            driver.get(root + "workflow")
            driver.find_element(By.CSS_SELECTOR, "details.invoke summary").click()
            form = driver.find_element(By.CSS_SELECTOR, "form[data-action='invoke']")
            for name, text in [("id", "greet-ada"), ("func", "greet"), ("args", '["ada"]')]:
                form.find_element(By.NAME, name).send_keys(text)
            target = form.find_element(By.NAME, "target")
            target.clear()
            target.send_keys("workers")
            form.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
            wait(expected_conditions.alert_is_present(), "a confirmation").accept()
            wait(
                lambda d: d.current_url.endswith("/console/workflow?id=greet-ada"),
                "the invoked workflow's page",
            )
            code, promise = api.request("GET", "/promises/greet-ada")
            self.assertEqual(promise["tags"]["resonate:target"], "poll://any@workers")
            self.assertEqual(
                json.loads(base64.b64decode(promise["param"]["data"])), _call("greet", "ada")
            )

            # Schedules (deleting one, after confirming), tasks and locks.
            driver.get(root + "schedules")
            wait(
                lambda d: "nightly-report" in d.find_element(By.ID, "live").text,
                "the schedule is listed",
            )
            click("#live button.action-delete")
            alert = wait(expected_conditions.alert_is_present(), "a confirmation")
            self.assertEqual(alert.text, "Delete schedule nightly-report?")
            alert.accept()
            wait(
                lambda d: "No schedules." in d.find_element(By.ID, "live").text,
                "the schedule is gone from the page",
            )
            self.assertEqual(api.request("GET", "/schedules/nightly-report")[0], 404)
            driver.get(root + "tasks")
            wait(
                lambda d: "checkout-7:3" in d.find_element(By.ID, "live").text,
                "the 2026 tasks are listed",
            )
            driver.get(root + "locks")
            wait(
                lambda d: "worker-3" in d.find_element(By.ID, "live").text,
                "the lock is listed",
            )

            # A phone's screen: nothing wider than it but the tables'
            # own scrolling boxes.
            browser.setViewport(driver, browser.PHONE)
            for page in ["promises", "promise?id=checkout-7", "workflow?id=checkout-7", "tasks"]:
                driver.get(root + page)
                wait(lambda d: d.find_element(By.ID, "live"), page)
                overflow = driver.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth;"
                )
                self.assertLessEqual(overflow, 0, page)
                self.assertTrue(driver.find_element(By.LINK_TEXT, "Workflows").is_displayed())

            self.assertEqual(browser.consoleErrors(driver), [])
        finally:
            driver.quit()


class SQLiteConsoleBrowserTests(ConsoleBrowserTestsMixin, unittest.TestCase):
    """
    The console over SQLite.
    """

    screenshot = True
    checkPause = True

    def storeFlags(self):
        return sqliteFlags(self.mktemp())


class PostgresConsoleBrowserTests(ConsoleBrowserTestsMixin, unittest.TestCase):
    """
    The console over PostgreSQL, on a scratch database.
    """

    def setUp(self):
        if not os.environ.get("RESONATE_TEST_POSTGRES_DSN"):
            raise unittest.SkipTest("set RESONATE_TEST_POSTGRES_DSN to run the PostgreSQL console test")

    def storeFlags(self):
        from tests.support.postgrestools import scratchDatabase

        return scratchDatabase(self)[2]


class JWTConsoleBrowserTests(unittest.TestCase):
    """
    The console of a server that verifies JWTs (issue 19), in a browser:
    signing in through the login page with a prefix token shows only that
    prefix, signing out goes back to the login page, and an admin token
    shows everything.
    """

    async def test_signIn(self):
        """
        A person opens the console, gets the login page, pastes a token for
        C{team-a/}, lands on the promise list with only C{team-a/}'s
        promises (the filter says C{team-a/*}), is refused C{team-b/}'s
        page, signs out, signs in again as an admin and sees every
        promise.  The cookie is HttpOnly and SameSite=Strict; the
        browser logs no error but the 401 and 403 it was answered.
        """
        from tests.support.jwttools import KeyPair

        browser.requireBrowser()
        keys = KeyPair("ec")
        publicKey = keys.writePublic(self.mktemp())
        server = await startResonate(
            self, *sqliteFlags(self.mktemp()), "--api-auth-jwt-public-key", publicKey
        )
        admin = keys.token(role="admin")
        api = HTTPClient(server.url)
        for promiseId in ("team-a/1", "team-b/1", "team-a/2"):
            answer = await api.request(
                "POST", "/promises", {"id": promiseId, "timeout": FAR},
                {"authorization": "Bearer " + admin},
            )
            self.assertEqual(answer.code, 201, answer)
        answer = await api.request("POST", "/promises", {"id": "x", "timeout": FAR})
        self.assertEqual(answer.code, 401, answer)
        await deferToThread(
            self.browse, server.url, keys.token(prefix="team-a/"), admin
        )
        exit = await stopResonate(server)
        self.assertTrue(exit.stoppedByTERM, server.output)

    def browse(self, url, teamToken, adminToken):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        driver = browser.startBrowser()

        def wait(condition, message):
            return WebDriverWait(driver, browser.WAIT).until(condition, message)

        def rowIds():
            return driver.execute_script(
                "return Array.from(document.querySelectorAll('#live tbody tr[data-id]'),"
                " row => row.dataset.id);"
            )

        def signIn(token):
            wait(lambda d: d.find_elements(By.NAME, "token"), "the login form")
            driver.find_element(By.NAME, "token").send_keys(token)
            driver.find_element(By.CSS_SELECTOR, "form.login button").click()

        try:
            driver.get(url + "/console/promises")
            self.assertEqual(driver.title, "Sign in - resonate console")
            signIn(teamToken)
            wait(lambda d: rowIds(), "the promise list after signing in")
            self.assertEqual(driver.current_url, url + "/console/promises")
            self.assertEqual(rowIds(), ["team-a/2", "team-a/1"])
            self.assertEqual(
                driver.find_element(By.CSS_SELECTOR, "form.filters input[name=id]")
                .get_attribute("value"),
                "team-a/*",
            )
            self.assertEqual(driver.find_element(By.CSS_SELECTOR, ".who").text, "ids team-a/*")
            [cookie] = driver.get_cookies()
            self.assertEqual(
                (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]),
                ("resonate_console", True, "Strict", "/console"),
            )
            self.assertEqual(driver.execute_script("return document.cookie;"), "")

            driver.get(url + "/console/promise?id=team-b%2F1")
            self.assertIn("team-a/", driver.find_element(By.ID, "live").text)

            driver.get(url + "/console/promises")
            wait(lambda d: rowIds(), "the list again")
            driver.find_element(By.CSS_SELECTOR, "button.signout").click()
            wait(lambda d: d.current_url.endswith("/console/login"), "the login page after signing out")
            self.assertEqual(driver.get_cookies(), [])

            signIn(adminToken)
            wait(lambda d: d.current_url == url + "/console/", "the first page")
            wait(lambda d: rowIds(), "the list as an admin")
            self.assertEqual(rowIds(), ["team-a/2", "team-b/1", "team-a/1"])
            self.assertEqual(driver.find_element(By.CSS_SELECTOR, ".who").text, "admin")

            errors = [
                entry for entry in browser.consoleErrors(driver)
                if "the server responded with a status of 401" not in entry["message"]
                and "the server responded with a status of 403" not in entry["message"]
            ]
            self.assertEqual(errors, [])
        finally:
            driver.quit()
