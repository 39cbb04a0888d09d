// The seed's realtime stack, as the peer of bench/event_latency.py: a Socket.IO server with
// @socket.io/redis-adapter on the same Redis, JWT auth (HS256, the same JWT_SECRET as dgt),
// one room per user (`user.<id>`) and an `admin` room for moderators and admins.
// Events come from another process through Redis (@socket.io/redis-emitter, see emitter.js).
// Usage: PORT=19711 JWT_SECRET=... REDIS_URL=redis://127.0.0.1:6379/7 SIO_KEY=dgt_i7_sio node server.js
"use strict";
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");
const jwt = require("jsonwebtoken");

const port = Number(process.env.PORT || 19711);
const secret = process.env.JWT_SECRET;
const key = process.env.SIO_KEY || "socket.io";

async function main() {
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub, { key }), serveClient: false });
  io.use((socket, next) => {
    try {
      const claims = jwt.verify(socket.handshake.auth && socket.handshake.auth.token, secret, { algorithms: ["HS256"] });
      socket.data.userId = String(claims.sub);
      socket.data.role = claims.role;
      next();
    } catch (e) {
      next(new Error("unauthenticated"));
    }
  });
  io.on("connection", (socket) => {
    const groups = [`user.${socket.data.userId}`];
    if (socket.data.role === "moderator" || socket.data.role === "admin") groups.push("admin");
    socket.join(groups);
    socket.emit("ready", { type: "ready", userId: Number(socket.data.userId), groups });
  });
  httpServer.listen(port, "127.0.0.1", () => console.log(`socket.io peer on 127.0.0.1:${port}`));
  const stop = () => { io.close(); pub.quit().catch(() => {}); sub.quit().catch(() => {}); process.exit(0); };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
main().catch((e) => { console.error(e); process.exit(1); });
