/* Live panel of the Django admin index: /ws/events/ with the admin's session (no token, no build).
 * Connected / Disconnected with reconnect backoff (1 s doubling to 30 s, jittered); resumes after
 * the last event id it saw, so alerts missed while disconnected still arrive; drops duplicates
 * by id. Alerts: `admin.alert` events and moderation updates; each can be dismissed.
 * Stats: `{"type": "stats", "data": {...}}` frames (pushed at most once a second on change). */
(function () {
  "use strict";
  var panel = document.getElementById("live-panel");
  if (!panel) return;
  var statusEl = document.getElementById("live-status");
  var alertsEl = document.getElementById("live-alerts");
  var lastId = null;           // highest event id seen: resume point after a reconnect
  var seen = {};               // event ids already shown (delivery is at least once)
  var delay = 1000, MAX_DELAY = 30000, socket = null, pingTimer = null;

  function setStatus(connected) {
    statusEl.textContent = connected ? "Connected" : "Disconnected";
    statusEl.dataset.state = connected ? "connected" : "disconnected";
    statusEl.className = "live-status " + (connected ? "live-connected" : "live-disconnected");
  }

  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "object") {
      var parts = Object.keys(value).map(function (k) { return k + " " + value[k]; });
      return parts.length ? parts.join(", ") : "–";
    }
    return String(value);
  }

  function showStats(data) {
    panel.querySelectorAll("[data-stat]").forEach(function (el) {
      if (Object.prototype.hasOwnProperty.call(data, el.dataset.stat)) el.textContent = fmt(data[el.dataset.stat]);
    });
  }

  function describe(frame) {
    var d = frame.data || {};
    if (frame.channel === "admin.alert") return { kind: d.kind || "alert", text: d.message || "" };
    if (frame.channel === "listings.update") {
      return { kind: "listing." + d.status, text: "Listing #" + d.id + " “" + (d.title || "") + "” is now " + d.status + "." };
    }
    if (frame.channel === "users.blocked") {
      var who = "User #" + d.userId + (d.username ? " (" + d.username + ")" : "");
      return d.blocked ? { kind: "user.blocked", text: who + " was blocked" + (d.reason ? ": " + d.reason : "") + "." }
                       : { kind: "user.unblocked", text: who + " was unblocked." };
    }
    return null;
  }

  function addAlert(frame) {
    var a = describe(frame);
    if (!a) return;
    var empty = alertsEl.querySelector(".live-empty");
    if (empty) empty.remove();
    var li = document.createElement("li");
    li.className = "live-alert";
    li.dataset.id = frame.id;
    li.dataset.kind = a.kind;
    var text = document.createElement("span");
    var kind = document.createElement("span");
    kind.className = "live-kind";
    kind.textContent = a.kind;
    text.appendChild(kind);
    text.appendChild(document.createTextNode(a.text + " "));
    var when = document.createElement("small");
    when.textContent = new Date(frame.ts).toLocaleTimeString();
    text.appendChild(when);
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "live-dismiss";
    btn.textContent = "Dismiss";
    btn.addEventListener("click", function () { dismiss(li); });
    li.appendChild(text);
    li.appendChild(btn);
    alertsEl.insertBefore(li, alertsEl.firstChild);
  }

  function dismiss(li) {
    li.remove();
    if (!alertsEl.querySelector(".live-alert")) {
      var empty = document.createElement("li");
      empty.className = "live-empty";
      empty.textContent = "No alerts.";
      alertsEl.appendChild(empty);
    }
  }

  document.getElementById("live-dismiss-all").addEventListener("click", function () {
    alertsEl.querySelectorAll(".live-alert").forEach(dismiss);
  });

  function onFrame(frame) {
    if (frame.type === "ready") {
      setStatus(true);
      delay = 1000;
      if (lastId !== null) socket.send(JSON.stringify({ type: "resume", after: lastId }));
    } else if (frame.type === "stats") {
      showStats(frame.data || {});
    } else if (frame.type === "event") {
      if (seen[frame.id]) return;
      seen[frame.id] = true;
      if (lastId === null || frame.id > lastId) lastId = frame.id;
      addAlert(frame);
    } else if (frame.type === "resume_truncated") {
      socket.send(JSON.stringify({ type: "resume", after: frame.lastId }));
    }
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + panel.dataset.wsPath);
    socket.onmessage = function (msg) {
      try { onFrame(JSON.parse(msg.data)); } catch (e) { /* not ours */ }
    };
    socket.onclose = function (ev) {
      setStatus(false);
      clearInterval(pingTimer);
      if (ev.code === 4003 || ev.code === 4001) { statusEl.textContent = "Disconnected (signed out or blocked)"; return; }
      var wait = delay * (0.5 + Math.random() / 2);
      delay = Math.min(delay * 2, MAX_DELAY);
      setTimeout(connect, wait);
    };
    // An application-level heartbeat keeps proxies from idling the socket out.
    pingTimer = setInterval(function () {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "ping" }));
    }, 25000);
  }

  setStatus(false);
  connect();
})();
