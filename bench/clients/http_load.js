// Closed-loop HTTP load: `concurrency` clients, each sends its next request when the previous
// answered, for warmupSeconds (not counted) then durationSeconds (requests started then are counted).
// Keep-alive agent.
// Requests: "approve" takes listing ids from a shared pool (POST /api/listings/{id}/approve);
// "refund" posts to /api/wallet/refund for a random wallet user with a fresh Idempotency-Key;
// "get" sends GET cfg.path (a read).
// Prints one JSON line: {requests, errors, statuses, rps, p50, p99, max, exhausted}.
// Usage: node http_load.js CONFIG.json
"use strict";
const fs = require("fs");
const http = require("http");
const crypto = require("crypto");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency });
const now = () => performance.timeOrigin + performance.now();
const pool = cfg.listingIds || [];
let poolNext = 0, exhausted = false;
const lat = [];
const statuses = {};
let errors = 0, requests = 0;

function nextRequest() {
  if (cfg.kind === "get") return { method: "GET", path: cfg.path, body: "", headers: {} };
  if (cfg.kind === "approve") {
    if (poolNext >= pool.length) { exhausted = true; return null; }
    return { path: `/api/listings/${pool[poolNext++]}/approve`, body: JSON.stringify({ expiryDays: 30 }), headers: {} };
  }
  const userId = cfg.userIds[Math.floor(Math.random() * cfg.userIds.length)];
  return { path: "/api/wallet/refund", headers: { "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify({ userId, amount: "1.00", reason: "bench goodwill", refId: `bench-${crypto.randomUUID()}` }) };
}

function send(req) {
  return new Promise((resolve) => {
    const r = http.request({ host: "127.0.0.1", port: cfg.port, method: req.method || "POST", path: req.path, agent,
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${cfg.token}`, ...req.headers,
        "Content-Length": Buffer.byteLength(req.body) } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    r.on("error", () => resolve(0));
    r.end(req.body);
  });
}

async function main() {
  const start = now();
  const measureFrom = start + cfg.warmupSeconds * 1000;
  const end = measureFrom + cfg.durationSeconds * 1000;
  const client = async () => {
    while (now() < end) {
      const req = nextRequest();
      if (!req) return;
      const t0 = now();
      const status = await send(req);
      const t1 = now();
      if (t0 >= measureFrom && t0 < end) {  // requests started in the window count, finished or not by its end
        requests++;
        statuses[status] = (statuses[status] || 0) + 1;
        if (status < 200 || status >= 300) errors++;
        lat.push(t1 - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, client));
  const measured = (end - measureFrom) / 1000;
  lat.sort((a, b) => a - b);
  const p = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.max(0, Math.ceil((q / 100) * lat.length) - 1))] : null);
  console.log(JSON.stringify({ requests, errors, statuses, seconds: measured, rps: requests / measured,
    p50: p(50), p99: p(99), max: lat.length ? lat[lat.length - 1] : null, exhausted }));
  agent.destroy();
}
main().catch((e) => { console.error(e); process.exit(1); });
