// Drives real socket.io-client v4 sockets (and /ws/events/ JSON sockets, for comparison) for
// tests/realtime. One JSON command per stdin line; one JSON report per stdout line.
//   {"cmd":"open","name","url","token"?,"header"?,"transports"?,"origin"?}  Socket.IO socket
//   {"cmd":"ws","name","url","token"}                                       /ws/events/ socket
//   {"cmd":"drop","name"}       close the transport, no automatic reconnection (a lost network)
//   {"cmd":"reconnect","name"}  connect again: socket.io-client sends its pid and offset itself
//   {"cmd":"emit","name","bytes"}  emit an event whose argument is a string of `bytes` characters
//   {"cmd":"close","name"} / {"cmd":"quit"}
// Reports: {"ev":"connect","name","recovered"}, {"ev":"connect_error","name","message"},
// {"ev":"disconnect","name","reason"}, {"ev":"event","name","channel","args"}, {"ev":"frame","name","frame"}.
"use strict";
const readline = require("readline");
const WebSocket = require("ws");
const { io } = require("socket.io-client");

const sockets = {};
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

function open(c) {
  const opts = { forceNew: true, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500,
                 transports: c.transports || ["websocket"] };
  if (c.token !== undefined && !c.header) opts.auth = { token: c.token };
  const headers = {};
  if (c.header) headers.Authorization = `Bearer ${c.token}`;
  if (c.origin) headers.Origin = c.origin;
  if (Object.keys(headers).length) opts.extraHeaders = headers;
  const s = io(c.url, opts);
  sockets[c.name] = s;
  s.on("connect", () => out({ ev: "connect", name: c.name, recovered: Boolean(s.recovered) }));
  s.on("connect_error", (e) => out({ ev: "connect_error", name: c.name, message: e.message }));
  s.on("disconnect", (reason) => out({ ev: "disconnect", name: c.name, reason }));
  s.onAny((channel, ...args) => out({ ev: "event", name: c.name, channel, args }));
}

function ws(c) {
  const w = new WebSocket(c.url, { headers: { Authorization: `Bearer ${c.token}` } });
  sockets[c.name] = w;
  w.on("message", (buf) => out({ ev: "frame", name: c.name, frame: JSON.parse(buf.toString()) }));
  w.on("close", (code) => out({ ev: "ws_close", name: c.name, code }));
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const c = JSON.parse(line);
  const s = sockets[c.name];
  if (c.cmd === "open") open(c);
  else if (c.cmd === "ws") ws(c);
  else if (c.cmd === "drop") { s.io.reconnection(false); s.io.engine.close(); }
  else if (c.cmd === "reconnect") { s.io.reconnection(true); s.connect(); }
  else if (c.cmd === "emit") s.emit("hello", "x".repeat(c.bytes));
  else if (c.cmd === "close") s.close();
  else if (c.cmd === "quit") process.exit(0);
  out({ ev: "ack", cmd: c.cmd, name: c.name || null });
});
rl.on("close", () => process.exit(0));
