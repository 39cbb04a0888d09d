/* The admin pages' live socket (docs/realtime.md): /ws/events/ authenticated by the Django admin
 * session (no token), JSON frames, reconnect with backoff (1 s doubling to 30 s, jittered; reset
 * on `ready`), an application ping every 25 s so proxies do not idle it out, and no reconnect
 * after 4001 / 4003 (signed out or blocked). Plain JS, no build step.
 *
 *   var live = dgtLiveSocket("/ws/events/", {
 *     onFrame: function (frame) { ... },            // every parsed frame, `ready` included
 *     onStatus: function (connected, closeCode) {}  // true on `ready`, false on close
 *   });
 *   live.send({type: "resume", after: 41});
 */
(function () {
  "use strict";
  window.dgtLiveSocket = function (path, handlers) {
    var delay = 1000, MAX_DELAY = 30000, socket = null, pingTimer = null;

    function send(obj) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(obj));
    }

    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + path);
      socket.onmessage = function (msg) {
        var frame;
        try { frame = JSON.parse(msg.data); } catch (e) { return; /* not ours */ }
        if (frame.type === "ready") { delay = 1000; handlers.onStatus(true); }
        handlers.onFrame(frame);
      };
      socket.onclose = function (ev) {
        clearInterval(pingTimer);
        handlers.onStatus(false, ev.code);
        if (ev.code === 4003 || ev.code === 4001) return;
        var wait = delay * (0.5 + Math.random() / 2);
        delay = Math.min(delay * 2, MAX_DELAY);
        setTimeout(connect, wait);
      };
      pingTimer = setInterval(function () { send({ type: "ping" }); }, 25000);
    }

    handlers.onStatus(false);
    connect();
    return { send: send };
  };
})();
