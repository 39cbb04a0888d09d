/* Moderation workspace (Django admin, docs/moderation.md): live queue and listing page, no build step.
 *
 * Both pages open /ws/events/ with the admin's session through the dashboard's live_socket.js and react to
 * `listings.update`, `moderation.claim` and `admin.alert` (kind listing.pending) events:
 *  - queue page (#moderation-queue): re-fetches its server-rendered live part (`?partial=1`,
 *    same filters) and swaps it in, so claims, decisions and new listings show without a reload;
 *    also every 30 s (ages, expired claims) and after every reconnect (events missed meanwhile).
 *  - listing page (#moderation-review): shows who reviews this listing now, and disables the
 *    decisions while another moderator holds it or once it is decided.
 * Keyboard shortcuts are listed on each page. */
(function () {
  "use strict";
  var queue = document.getElementById("moderation-queue");
  var review = document.getElementById("moderation-review");
  var root = queue || review;
  if (!root) return;
  var me = Number(root.dataset.userId);
  var liveEl = document.getElementById("mod-live");

  function setLive(connected) {
    liveEl.textContent = connected ? "Live" : "Disconnected";
    liveEl.dataset.state = connected ? "connected" : "disconnected";
  }

  function typing(ev) {
    var t = ev.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }

  function hhmm(iso) {
    var d = new Date(iso);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  /* ---- queue page -------------------------------------------------------------------------- */
  var refreshTimer = null, selected = null;

  function rows() { return Array.prototype.slice.call(queue.querySelectorAll("tr.queue-row")); }

  function select(id) {
    var found = false;
    rows().forEach(function (tr) {
      var on = tr.dataset.listingId === String(id);
      tr.classList.toggle("selected", on);
      found = found || on;
    });
    if (!found) { var first = rows()[0]; id = first ? first.dataset.listingId : null; if (first) first.classList.add("selected"); }
    selected = id;
    queue.querySelectorAll("[data-preview-for]").forEach(function (s) { s.hidden = s.dataset.previewFor !== String(id); });
  }

  function refreshQueue() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      fetch(queue.dataset.partialUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })
        .then(function (html) {
          document.getElementById("queue-live").innerHTML = html;
          select(selected);
          queue.dataset.refreshed = String(Date.now());
        })
        .catch(function () { /* next event or tick retries */ });
    }, 150);  // coalesce a burst of events into one fetch
  }

  function onQueueEvent(frame) {
    var d = frame.data || {};
    if (frame.channel === "listings.update" || frame.channel === "moderation.claim" ||
        (frame.channel === "admin.alert" && d.kind === "listing.pending")) refreshQueue();
  }

  function queueKeys(ev) {
    if (typing(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var list = rows(), i = list.findIndex(function (tr) { return tr.dataset.listingId === String(selected); });
    if (ev.key === "j" || ev.key === "k") {
      var next = list[Math.max(0, Math.min(list.length - 1, i + (ev.key === "j" ? 1 : -1)))];
      if (next) { select(next.dataset.listingId); next.scrollIntoView({ block: "nearest" }); }
    } else if (ev.key === "Enter" && i >= 0) {
      var open = list[i].querySelector("form.open-form");
      if (open) open.requestSubmit();
    } else if (ev.key === "n") {
      document.getElementById("next-form").requestSubmit();
    } else return;
    ev.preventDefault();
  }

  if (queue) {
    queue.addEventListener("click", function (ev) {
      var tr = ev.target.closest("tr.queue-row");
      if (tr && !ev.target.closest("form")) select(tr.dataset.listingId);
    });
    document.addEventListener("keydown", queueKeys);
    select(null);
    setInterval(refreshQueue, 30000);
  }

  /* ---- listing page ------------------------------------------------------------------------ */
  var expiryTimer = null;

  function showClaim(state, who, until) {
    var banner = document.getElementById("claim-banner");
    var text = document.getElementById("claim-text");
    banner.dataset.state = state;
    if (state === "mine") text.textContent = "You are reviewing this listing until " + hhmm(until) + ".";
    else if (state === "other") text.textContent = "Being reviewed by " + who + " until " + hhmm(until) + ".";
    else if (state === "none") text.textContent = "Nobody is reviewing this listing.";
    else text.textContent = "This listing is " + review.dataset.status + ".";
    var decided = review.dataset.status !== "pending";
    document.getElementById("decisions").disabled = decided || state === "other";
    document.getElementById("claim-form").hidden = decided || state === "other";
    document.getElementById("admin-release-form").hidden = !(state === "other" && review.dataset.isAdmin === "1");
    clearTimeout(expiryTimer);
    if ((state === "mine" || state === "other") && until) armExpiry(until);
  }

  function armExpiry(until) {
    // A claim ends by itself at claimedUntil: nothing is published then, so the page counts.
    clearTimeout(expiryTimer);
    expiryTimer = setTimeout(function () { showClaim("none"); }, Math.max(0, new Date(until) - Date.now()));
  }

  function onReviewEvent(frame) {
    var d = frame.data || {};
    if (frame.channel === "moderation.claim" && String(d.listingId) === review.dataset.listingId) {
      if (!d.claimedBy) showClaim("none");
      else showClaim(d.claimedBy.id === me ? "mine" : "other", d.claimedBy.username, d.claimedUntil);
    } else if (frame.channel === "listings.update" && String(d.id) === review.dataset.listingId) {
      review.dataset.status = d.status;
      showClaim(d.status === "pending" ? "none" : "decided");
    }
  }

  function reviewKeys(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (typing(ev)) {
      if (ev.key === "Escape") { ev.target.blur(); ev.preventDefault(); }
      return;
    }
    var decisions = document.getElementById("decisions");
    var select = document.getElementById("id_reason_id");
    if (ev.key === "a" && !decisions.disabled) {
      document.getElementById("approve-form").requestSubmit();
    } else if (ev.key === "r" && !decisions.disabled) {
      var text = document.getElementById("id_reason");
      if (select.value || text.value.trim()) document.getElementById("reject-form").requestSubmit();
      else select.focus();
    } else if (/^[1-9]$/.test(ev.key) && !decisions.disabled && select.options[Number(ev.key)]) {
      select.selectedIndex = Number(ev.key);
    } else if (ev.key === "n") {
      document.getElementById("next-form").requestSubmit();
    } else if (ev.key === "Escape") {
      var release = document.getElementById("release-form");
      if (release) release.requestSubmit(); else document.getElementById("back-link").click();
    } else return;
    ev.preventDefault();
  }

  if (review) {
    document.addEventListener("keydown", reviewKeys);
    if (review.dataset.claimedUntil) armExpiry(review.dataset.claimedUntil);  // the server wrote the text
  }

  /* ---- the admin session's websocket (core/static/core/live_socket.js) ---------------------- */
  window.dgtLiveSocket(root.dataset.wsPath, {
    onFrame: function (frame) {
      if (frame.type === "ready") {
        root.dataset.live = "ready";
        if (queue) refreshQueue();  // whatever happened while we were away
      } else if (frame.type === "event") {
        if (queue) onQueueEvent(frame); else onReviewEvent(frame);
      }
    },
    onStatus: function (connected, code) {
      setLive(connected);
      if (code === 4003 || code === 4001) liveEl.textContent = "Disconnected (signed out or blocked)";
    }
  });
})();
