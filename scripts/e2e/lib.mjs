// Helpers shared by the end-to-end tests: HTTP calls, Socket.IO connections from chosen
// loopback addresses, and hand-made JWTs for the security table.
import { createRequire } from "node:module";
import http from "node:http";
import path from "node:path";
import crypto from "node:crypto";
import fs from "node:fs";
import zlib from "node:zlib";

export const BASE = process.env.HUBBUB_URL ?? "http://127.0.0.1:8080";
export const RUN = process.env.HUBBUB_RUN;
export const TOKEN_SECRET = process.env.HUBBUB_E2E_TOKEN_SECRET;
export const ADMIN = process.env.HUBBUB_E2E_ADMIN;
export const ADMIN_PASSWORD = process.env.HUBBUB_E2E_ADMIN_PASSWORD;
// Client addresses are written 127.0.0.N; where nginx is reached on a container network
// instead (scripts/compose-test.sh), HUBBUB_E2E_CLIENT_NET=A.B.C makes them A.B.C.N there.
const CLIENT_NET = process.env.HUBBUB_E2E_CLIENT_NET;
const clientAddress = (a) => (CLIENT_NET ? a.replace(/^127\.0\.0\./, `${CLIENT_NET}.`) : a);
const require = createRequire(path.join(process.env.SOCKETIO_CLIENT, "package.json"));
export const { io } = require("socket.io-client");

export const suffix = () => `${Date.now().toString(36)}${crypto.randomBytes(3).toString("hex")}`;
export const PASSWORD = "correct horse battery";

export async function api(method, route, body, token, headers = {}) {
  const h = { "content-type": "application/json", ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const started = performance.now();
  const res = await fetch(`${BASE}/api/v1${route}`, { method, headers: h, body: body && JSON.stringify(body) });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? JSON.parse(text) : null,
    headers: res.headers,
    requestId: res.headers.get("x-request-id"),
    ms: performance.now() - started,
  };
}

// An API call from a chosen loopback address (nginx passes it on as the client address).
export function apiFrom(localAddress, method, route, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : "";
    const req = http.request(
      `${BASE}/api/v1${route}`,
      { method, localAddress: clientAddress(localAddress), headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

export async function register(name) {
  const r = await api("POST", "/auth/register", { username: name, email: `${name}@example.com`, password: PASSWORD });
  if (r.status !== 201) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

// Logs in as the first administrator, whom the auth service makes at start with the configured
// password (waiting for it, as the stack may still be starting).
export async function loginAdmin() {
  for (let i = 0; ; i++) {
    const r = await api("POST", "/auth/login", { login: ADMIN, password: ADMIN_PASSWORD });
    if (r.status === 200 || i >= 50) return r;
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

// Connects from a chosen loopback address, so nginx's hash by client address can place the
// socket on a different node than another client's.
export function connect(token, address = "127.0.0.2") {
  const localAddress = clientAddress(address);
  const agent = new http.Agent({ localAddress, keepAlive: true });
  const socket = io(BASE, { auth: { token }, agent, localAddress, reconnection: false, timeout: 10000 });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

const b64url = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

// A JWT made by hand: `alg` decides the HMAC ("none" gives an empty signature).
export function jwt(header, claims, secret = TOKEN_SECRET) {
  const body = `${b64url(header)}.${b64url(claims)}`;
  if (header.alg === "none") return `${body}.`;
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[header.alg] ?? "sha256";
  return `${body}.${crypto.createHmac(hash, secret).update(body).digest("base64url")}`;
}

export function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Which chat node holds a socket: each node logs its sockets' ids on connect.
export function nodeOf(socketId) {
  const logs = fs.readdirSync(path.join(RUN, "logs")).filter((f) => /^chat-\d+\.log$/.test(f));
  for (const f of logs) {
    if (fs.readFileSync(path.join(RUN, "logs", f), "utf8").includes(socketId)) return f.replace(".log", "");
  }
  return null;
}

export async function nodeOfEventually(socketId) {
  for (let i = 0; i < 50; i++) {
    const node = nodeOf(socketId);
    if (node) return node;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no chat node logged socket ${socketId}`);
}


// Connects `token` to a chat node other than `avoid` (trying client addresses in turn).
export async function connectElsewhere(token, avoid, first = 3) {
  for (let i = first; i < first + 40; i++) {
    const s = await connect(token, `127.0.0.${i}`);
    const node = await nodeOfEventually(s.id);
    if (node !== avoid) return { socket: s, node };
    s.close();
  }
  throw new Error(`no client address reached a node other than ${avoid}`);
}

export function emitWithAck(socket, event, payload) {
  return socket.timeout(15000).emitWithAck(event, payload);
}

export function nextEvent(socket, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (data) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

// Collects every `event` a socket receives from now on.
export function collect(socket, event) {
  const got = [];
  socket.on(event, (data) => got.push(data));
  return got;
}

function chunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

// A real PNG, `w` × `h` (RGB), or only its first `rows` rows of data (a header that claims more).
export function png(w, h, { rows = h, gray = false } = {}) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = gray ? 0 : 2;
  const channels = gray ? 1 : 3;
  const raw = Buffer.alloc((w * channels + 1) * rows);
  if (!gray) {
    for (let y = 0; y < rows; y++) {
      const row = y * (w * 3 + 1);
      for (let x = 0; x < w; x++) raw.set([x % 256, y % 256, (x + y) % 256], row + 1 + x * 3);
    }
  }
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

// Debian's Chromium driven by playwright-core (its own browser downloads cannot run here).
export async function launchChromium() {
  const require = createRequire(path.join(process.env.PLAYWRIGHT_CORE, "package.json"));
  const { chromium } = require("playwright-core");
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
}
