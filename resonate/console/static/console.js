// The resonate console's script: refresh a page's live section while the
// page is visible, and take actions (settle, invoke, delete) after a
// confirmation.  Actions are JSON POSTs with the X-Resonate-Console
// header, which the server requires (another site's page cannot send it).
// Signing in and out (when the server asks for tokens) are actions too,
// without a confirmation; a 401 means the token is gone: to the login page.
"use strict";

(function () {
  var ACTIONS = {
    "settle": "settle",
    "invoke": "invoke",
    "delete-schedule": "schedule/delete",
    "login": "login",
    "logout": "logout"
  };
  // Actions taken without asking first.
  var QUIET = { "login": true, "logout": true };
  var timer = null;

  function notice(text, ok) {
    var element = document.getElementById("notice");
    if (element === null) {
      return;
    }
    element.textContent = text;
    element.className = "notice " + (ok ? "ok" : "error");
  }

  function live() {
    return document.getElementById("live");
  }

  // Whether a person is typing or choosing in the live section: a
  // refresh would replace what they are using.
  function inUse(section) {
    var active = document.activeElement;
    return active !== null && section.contains(active) &&
      /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
  }

  // Fetch the live section again and swap it in, unless it is in use.
  function refresh() {
    var section = live();
    if (section === null || !section.dataset.src || inUse(section)) {
      return Promise.resolve();
    }
    return fetch(section.dataset.src, { credentials: "same-origin" })
      .then(function (response) {
        if (response.status === 401) {
          // Signed out meanwhile: the page itself is the login page now.
          window.location.reload();
          return "";
        }
        if (!response.ok) {
          throw new Error("refresh failed: HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.getElementById("live-fragment");
        if (fresh !== null) {
          section.replaceChildren.apply(section, Array.prototype.slice.call(fresh.childNodes));
          document.body.dataset.refreshed = String(Date.now());
        }
      })
      .catch(function (error) {
        notice(error.message, false);
      });
  }

  function schedule() {
    var section = live();
    if (timer !== null) {
      window.clearTimeout(timer);
      timer = null;
    }
    if (section === null || !section.dataset.refresh || document.hidden) {
      return;
    }
    timer = window.setTimeout(function () {
      refresh().then(schedule);
    }, Number(section.dataset.refresh));
  }

  function act(action, fields, message) {
    var path = ACTIONS[action];
    if (path === undefined || (!QUIET[action] && !window.confirm(message))) {
      return;
    }
    notice("working...", true);
    fetch("/console/api/" + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Resonate-Console": "1" },
      body: JSON.stringify(fields)
    })
      .then(function (response) {
        return response.json().catch(function () {
          return { ok: false, message: "HTTP " + response.status };
        }).then(function (answer) {
          answer.status = response.status;
          return answer;
        });
      })
      .then(function (answer) {
        notice(answer.message, answer.ok);
        if ((answer.ok || answer.status === 401) && answer.location) {
          window.location.assign(answer.location);
        } else if (answer.ok) {
          refresh();
        }
      })
      .catch(function (error) {
        notice("the action failed: " + error.message, false);
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.dataset || !form.dataset.action) {
      return;
    }
    event.preventDefault();
    var submitter = event.submitter || null;
    var fields = {};
    new FormData(form, submitter).forEach(function (value, name) {
      fields[name] = value;
    });
    var message = (submitter && submitter.dataset.confirm) || form.dataset.confirm || "Are you sure?";
    act(form.dataset.action, fields, message);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-action]") : null;
    if (button === null || button.form) {
      return;
    }
    act(button.dataset.action, { id: button.dataset.id }, button.dataset.confirm || "Are you sure?");
  });

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      schedule();
    } else {
      refresh().then(schedule);
    }
  });

  schedule();
}());
