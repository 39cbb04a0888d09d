// Publisher for the Socket.IO peer: the same schedule as bench/dgt_publisher.py, through Redis
// with @socket.io/redis-emitter. Frames have the dgt frame shape; data.t is the publish time
// (epoch ms) and data.eid the event number, so the clients measure publish -> receipt.
// Usage: node emitter.js CONFIG.json   (config: see bench/event_latency.py)
"use strict";
const fs = require("fs");
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function main() {
  const client = createClient({ url: cfg.redisUrl });
  await client.connect();
  const emitter = new Emitter(client, { key: cfg.sioKey });
  const schedule = JSON.parse(fs.readFileSync(cfg.schedule, "utf8")); // [[atMs, eid, group], ...]
  const start = now() + 200;
  const sent = [];
  for (const [at, eid, group] of schedule) {
    const wait = start + at - now();
    if (wait > 1) await sleep(wait);
    const t = now();
    emitter.to(group).emit("event", { type: "event", id: eid, channel: group === "admin" ? "admin.stats" : "wallet.balance",
      ts: new Date(t).toISOString(), requestId: "", data: { eid, t, pad: cfg.pad } });
    sent.push([eid, group, t]);
  }
  await sleep(50);
  fs.writeFileSync(cfg.out, JSON.stringify({ sent, lateMs: now() - start - schedule[schedule.length - 1][0] }));
  await client.quit();
}
main().catch((e) => { console.error(e); process.exit(1); });
