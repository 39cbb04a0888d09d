// The one client machinery that drives both dgt (/ws/events/, `ws`, Authorization: Bearer) and
// the Socket.IO peer (socket.io-client, websocket transport, auth.token): one socket per user.
// Controlled by lines on stdin, answers on stdout:
//   connect N  -> opens the next N sockets (at most `concurrency` handshakes in flight), answers
//                 "READY <open> <failed> <seconds for this batch>" when each is ready (or failed)
//   count      -> answers "COUNT <frames received so far>"
//   dump PATH  -> writes what was received so far to PATH, answers "DUMPED <frames>"
//   storm      -> answers "STORM <closed after ready> <ready again> <resumed> <last ready ms> <last resumed ms>
//                 <reconnect attempts> <open now>" (epoch ms; cfg.reconnect: a dgt socket closed by the server
//                 reconnects at once, retrying every 50-250 ms, resuming at connect: ?after=<last event id>)
//   phases PATH -> writes the storm's times to PATH (epoch ms of every close of a ready socket, every
//                 reconnect's 101, every ready again: {closed, upgraded, ready}), answers "PHASES"
//   quit       -> closes everything and exits
// Received event frames: [eid, userId, latencyMs (receipt - data.t), isAdminGroup, frameId].
// listings.update frames: [listingId, userId, receivedAtEpochMs] (full path HTTP approve -> frame).
// Usage: node ws_clients.js CONFIG.json  ({mode: "dgt"|"sio"|"dgtsio", url, users: PATH, concurrency, maxSeconds})
// "dgtsio": dgt's Socket.IO endpoint (/socket.io/): event name = channel, args (data, {id, ts, requestId}, offset).
"use strict";
const fs = require("fs");
const readline = require("readline");
const WebSocket = require("ws");
const { io } = require("socket.io-client");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const users = JSON.parse(fs.readFileSync(cfg.users, "utf8")); // [{id, role, token}]
const now = () => performance.timeOrigin + performance.now();
const events = [];
const approvals = [];
const sockets = [];
let next = 0, open = 0, failed = 0, closedAfterReady = 0, attempts = 0;
let quitting = false, readyAgain = 0, resumed = 0, lastReadyAt = 0, lastResumedAt = 0;
const readyAgainAt = []; // epoch ms of every socket's ready after a reconnect (storm percentiles)
const closedAt = [], upgradedAgainAt = []; // epoch ms of each close of a ready socket, of each reconnect's 101

function onFrame(user, frame) {
  if (!frame || frame.type !== "event") return;
  const t = now();
  const d = frame.data || {};
  if (frame.channel === "listings.update") { approvals.push([d.id, user.id, t]); return; }
  if (typeof d.t === "number") events.push([d.eid, user.id, t - d.t, frame.channel === "admin.stats" ? 1 : 0, frame.id]);
}

function openDgt(user, again = false) {
  return new Promise((resolve) => {
    let ready = false;
    // a reconnect resumes at connect (?after=): missed events come before any live frame
    const url = again ? `${cfg.url}?after=${user.lastId || 0}` : cfg.url;
    if (again) attempts++;
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${user.token}` }, perMessageDeflate: false });
    sockets.push(ws);
    if (again) ws.on("upgrade", () => upgradedAgainAt.push(now()));
    ws.on("message", (buf) => {
      let frame;
      try { frame = JSON.parse(buf.toString()); } catch (e) { return; }
      if (frame.type === "ready") {
        ready = true; open++;
        if (again) { readyAgain++; lastReadyAt = now(); readyAgainAt.push(lastReadyAt); }
        resolve(true); return;
      }
      if (frame.type === "resumed") { resumed++; lastResumedAt = now(); return; }
      if (frame.type === "event" && typeof frame.id === "number") user.lastId = Math.max(user.lastId || 0, frame.id);
      onFrame(user, frame);
    });
    ws.on("close", () => {
      if (ready) {
        closedAfterReady++; open--; closedAt.push(now());
        if (cfg.reconnect && !quitting) reconnect(user);
      } else if (again) {
        resolve(false);
      } else { failed++; resolve(false); }
    });
    ws.on("error", () => {});
  });
}

async function reconnect(user) {
  // every socket comes back at once (the storm); a refused attempt (server still starting) retries
  while (!quitting) {
    if (await openDgt(user, true)) return;
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
  }
}

// The peer emits its frame as one "event"; dgt's endpoint emits the channel with (data, envelope, offset).
const peerEvents = (s, user) => s.on("event", (frame) => onFrame(user, frame));
const dgtEvents = (s, user) => s.onAny((channel, data, env) => onFrame(user, { type: "event", channel, data, id: env && env.id }));

function openSio(user, listen, readyEvent) {
  return new Promise((resolve) => {
    let ready = false;
    const s = io(cfg.url, { transports: ["websocket"], auth: { token: user.token }, reconnection: false, forceNew: true });
    sockets.push(s);
    s.on(readyEvent, () => { ready = true; open++; resolve(true); });
    listen(s, user);
    s.on("connect_error", () => { if (!ready) { failed++; resolve(false); } });
    s.on("disconnect", () => { if (ready) { closedAfterReady++; open--; } });
  });
}

const OPEN = { dgt: openDgt, sio: (u) => openSio(u, peerEvents, "ready"), dgtsio: (u) => openSio(u, dgtEvents, "connect") };

async function connect(n) {
  const started = now();
  const end = Math.min(users.length, next + n);
  const limit = cfg.concurrency || 50;
  const worker = async () => {
    while (next < end) {
      const user = users[next++];
      await OPEN[cfg.mode](user);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  console.log(`READY ${open} ${failed} ${((now() - started) / 1000).toFixed(3)}`);
}

function dump(path) {
  fs.writeFileSync(path, JSON.stringify({ events, approvals, open, failed, closedAfterReady }));
  console.log(`DUMPED ${events.length + approvals.length}`);
}

function quit() {
  quitting = true;
  for (const s of sockets) { try { s.close(); } catch (e) {} }
  setTimeout(() => process.exit(0), 200);
}

setTimeout(() => { console.log("TIMEOUT"); quit(); }, (cfg.maxSeconds || 600) * 1000);
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === "connect") connect(Number(arg)).catch((e) => console.log(`ERROR ${e}`));
  else if (cmd === "count") console.log(`COUNT ${events.length + approvals.length}`);
  else if (cmd === "storm") {
    console.log(`STORM ${closedAfterReady} ${readyAgain} ${resumed} ${lastReadyAt.toFixed(1)} ${lastResumedAt.toFixed(1)} ` +
                `${attempts} ${open}`);
  }
  else if (cmd === "phases") {
    fs.writeFileSync(arg, JSON.stringify({ closed: closedAt, upgraded: upgradedAgainAt, ready: readyAgainAt }));
    console.log("PHASES");
  }
  else if (cmd === "dump") dump(arg);
  else if (cmd === "quit") quit();
});
rl.on("close", quit);
