// Operations endpoints: every process of the stack answers /health, /ready (its dependencies
// answer) and /metrics (Prometheus text) on its own port, never through nginx.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { api, register, suffix, connect, emitWithAck, sleep, BASE } from "./lib.mjs";

const PORT_BASE = Number(process.env.HUBBUB_E2E_PORT_BASE ?? 13000);
const INFRA_RUN = process.env.HUBBUB_E2E_INFRA_RUN;
const PROCESSES = {
  gateway: { port: PORT_BASE + 20, needs: ["redis", "storage"] },
  auth: { port: PORT_BASE + 21, needs: ["mongodb", "redis", "kafka", "rabbitmq"] },
  user: { port: PORT_BASE + 22, needs: ["mongodb", "redis", "rabbitmq"] },
  group: { port: PORT_BASE + 23, needs: ["mongodb", "kafka", "rabbitmq"] },
  message: { port: PORT_BASE + 24, needs: ["mongodb", "kafka", "storage", "rabbitmq"] },
  "chat-1": { port: PORT_BASE + 41, needs: ["redis", "kafka"] },
  "chat-2": { port: PORT_BASE + 42, needs: ["redis", "kafka"] },
  "chat-3": { port: PORT_BASE + 43, needs: ["redis", "kafka"] },
};
const ops = (name, route) => fetch(`http://127.0.0.1:${PROCESSES[name].port}${route}`);

test("every process answers /health and is /ready with each dependency it needs checked", async () => {
  for (const [name, p] of Object.entries(PROCESSES)) {
    assert.equal((await ops(name, "/health")).status, 200, name);
    const ready = await ops(name, "/ready");
    const body = await ready.json();
    assert.equal(ready.status, 200, `${name}: ${JSON.stringify(body)}`);
    assert.deepEqual(Object.keys(body.checks).sort(), [...p.needs].sort(), name);
    assert.ok(Object.values(body.checks).every((c) => c === "ok"), name);
  }
  // Not reachable through the public nginx (whose other paths are the web client's).
  for (const route of ["/metrics", "/ready"]) {
    const r = await fetch(`${BASE}${route}`);
    const text = await r.text();
    assert.ok(!text.includes("# TYPE") && !text.includes('"checks"'), `${route} through nginx: ${r.status} ${text.slice(0, 80)}`);
  }
});

test("/metrics counts requests by route template, sends by outcome and stored messages", async () => {
  const a = await register(`ops_${suffix()}`);
  const g = await api("POST", "/groups", { name: `ops ${suffix()}` }, a.accessToken);
  const rest = await api("POST", `/groups/${g.body.id}/messages`, { content: "via rest", clientMsgId: crypto.randomUUID() }, a.accessToken);
  assert.equal(rest.status, 201);
  const socket = await connect(a.accessToken, "127.0.0.61");
  try {
    const ack = await emitWithAck(socket, "chat.message.send", { groupId: g.body.id, content: "via socket", clientMsgId: crypto.randomUUID() });
    assert.ok(ack.ok, JSON.stringify(ack));
  } finally {
    socket.close();
  }
  const gateway = await (await ops("gateway", "/metrics")).text();
  assert.match(gateway, /http_requests_total\{method="POST",route="\/api\/v1\/groups\/\{id\}\/messages",status="201"\} \d+/);
  assert.match(gateway, /http_request_duration_seconds_bucket\{method="POST",route="\/api\/v1\/groups\/\{id\}\/messages",le="0.1"\}/);
  assert.ok(!gateway.includes(g.body.id), "no raw ids in labels");
  // RPCs, counted where they are served, by method, transport and status code.
  const rpcLine = (text, method, transport) =>
    text.split("\n").find((l) => l.startsWith("rpc_requests_total{") && l.includes(`method="${method}"`) && l.includes(`transport="${transport}"`) && l.includes('code="Ok"'));
  const group = await (await ops("group", "/metrics")).text();
  assert.ok(rpcLine(group, "/hubbub.group.v1.GroupService/CreateGroup", "grpc"), "the group service counted CreateGroup over gRPC");
  const auth = await (await ops("auth", "/metrics")).text();
  assert.ok(rpcLine(auth, "/hubbub.auth.v1.AuthService/Register", "amqp"), "the auth service counted Register over RabbitMQ");
  assert.match(auth, /rpc_request_duration_seconds_bucket\{method="\/hubbub\.auth\.v1\.AuthService\/Register",transport="amqp",le="0\.1"\}/);
  // Each consumer's lag behind every partition it reads, reported every few seconds.
  const lagged = async (name, consumer) => {
    for (let i = 0; i < 100; i++) {
      const text = await (await ops(name, "/metrics")).text();
      const line = text.split("\n").find((l) => l.startsWith(`kafka_consumer_lag{consumer="${consumer}"`));
      if (line) return line;
      await sleep(100);
    }
    return null;
  };
  assert.match((await lagged("message", "message")) ?? "", /topic="[^"]*message\.commands",partition="\d+"\} \d+/);
  assert.match((await lagged("chat-1", "tail")) ?? "", /partition="\d+"\} \d+/);
  const message = await (await ops("message", "/metrics")).text();
  const stored = Number(message.match(/^messages_stored_total (\d+)/m)?.[1] ?? 0);
  assert.ok(stored >= 2, `messages_stored_total ${stored}`);
  const chats = await Promise.all(["chat-1", "chat-2", "chat-3"].map(async (n) => (await ops(n, "/metrics")).text()));
  assert.ok(chats.some((t) => /chat_messages_sent_total\{outcome="acked"\} \d+/.test(t)), "a chat node counted the acked send");
  assert.ok(chats.some((t) => /chat_send_ack_seconds_bucket/.test(t)));
});

test("/ready says which dependency does not answer, and recovers with it", async () => {
  assert.ok(INFRA_RUN, "HUBBUB_E2E_INFRA_RUN names the infrastructure's run directory");
  const s3 = Number(fs.readFileSync(path.join(INFRA_RUN, "pids", "s3.pid"), "utf8").trim());
  process.kill(s3, "SIGSTOP");
  let down;
  try {
    const r = await ops("gateway", "/ready");
    down = { status: r.status, body: await r.json() };
  } finally {
    process.kill(s3, "SIGCONT");
  }
  assert.equal(down.status, 503, JSON.stringify(down.body));
  assert.equal(down.body.checks.redis, "ok");
  assert.notEqual(down.body.checks.storage, "ok");
  for (let i = 0; i < 50; i++) {
    if ((await ops("gateway", "/ready")).status === 200) return;
    await sleep(200);
  }
  assert.fail("the gateway did not become ready again");
});

test("the Grafana dashboard queries only metrics the processes export", async () => {
  const dashboard = JSON.parse(fs.readFileSync(new URL("../../deploy/grafana/hubbub.json", import.meta.url), "utf8"));
  const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
  const functions = new Set(["sum", "rate", "histogram_quantile", "by", "le", "route", "status", "outcome", "where", "quantile", "instance"]);
  const queried = new Set(exprs.flatMap((e) => [...e.matchAll(/\b([a-z][a-z_]+)\b/g)].map((m) => m[1])).filter((n) => !functions.has(n) && n.includes("_")));
  const texts = await Promise.all(Object.keys(PROCESSES).map(async (name) => (await ops(name, "/metrics")).text()));
  const exported = new Set(texts.join("\n").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(/[{ ]/)[0]));
  const missing = [...queried].filter((n) => !exported.has(n));
  console.log(`the dashboard queries ${queried.size} metrics; the processes export ${exported.size} series names`);
  assert.ok(queried.size >= 8, [...queried].join(", "));
  assert.deepEqual(missing, [], "every metric the dashboard queries is exported");
});

