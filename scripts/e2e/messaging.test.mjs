// Messaging end to end, through nginx, with the official Socket.IO client, clients on
// different chat nodes: receipts, unread counts, typing, edit and delete, REST send, and
// catch-up after a reconnect (chat.sync). One test per behaviour, named for it.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  api, register, connect, connectElsewhere, nodeOfEventually, emitWithAck, nextEvent, collect, sleep, suffix,
} from "./lib.mjs";

// Polls `check` (which returns a value or throws) until it passes or `ms` run out.
async function eventually(check, ms = 8000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > until) throw e;
      await sleep(100);
    }
  }
}

// Waits for the first `event` on `socket` whose payload satisfies `pred`.
function waitFor(socket, event, pred, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no matching ${event} within ${ms} ms`));
    }, ms);
    const on = (data) => {
      if (!pred(data)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(data);
    };
    socket.on(event, on);
  });
}

// Two users in a group, each with a socket, on different chat nodes.
async function pair(t, name) {
  const s = suffix();
  const alice = await register(`${name}a_${s}`);
  const bob = await register(`${name}b_${s}`);
  const g = await api("POST", "/groups", { name, memberIds: [bob.user.id] }, alice.accessToken);
  assert.equal(g.status, 201, JSON.stringify(g.body));
  const a = await connect(alice.accessToken, "127.0.0.2");
  t.after(() => a.close());
  const { socket: b } = await connectElsewhere(bob.accessToken, await nodeOfEventually(a.id));
  t.after(() => b.close());
  return { alice, bob, groupId: g.body.id, a, b };
}

let n = 0;
const send = (socket, groupId, content) =>
  emitWithAck(socket, "chat.message.send", { groupId, content, clientMsgId: `m${n++}-${suffix()}` });

test("delivered and seen reach the sender", async (t) => {
  const { bob, groupId, a, b } = await pair(t, "receipts");
  const delivered = waitFor(a, "chat.message.delivered", (d) => d.userId === bob.user.id && d.seq === 1);
  const sent = await send(a, groupId, "did you get this?");
  assert.equal(sent.ok, true, JSON.stringify(sent));
  assert.deepEqual(await delivered, { groupId, userId: bob.user.id, seq: 1 });
  const seen = waitFor(a, "chat.message.seen", (d) => d.userId === bob.user.id);
  const ack = await emitWithAck(b, "chat.message.seen", { groupId, seq: 1 });
  assert.deepEqual(ack, { ok: true });
  assert.deepEqual(await seen, { groupId, userId: bob.user.id, seq: 1 });
});

test("unread counts before and after read, and sending marks your own message seen", async (t) => {
  const { alice, bob, groupId, a } = await pair(t, "unread");
  for (let i = 0; i < 3; i++) assert.equal((await send(a, groupId, `news ${i}`)).ok, true);
  const unread = async (who) => {
    const r = await api("GET", "/groups", null, who.accessToken);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.groups.find((g) => g.id === groupId);
  };
  const before = await eventually(async () => {
    const g = await unread(bob);
    assert.equal(g.unreadCount, 3);
    return g;
  });
  assert.equal(before.lastMessage.seq, 3);
  await eventually(async () => assert.equal((await unread(alice)).unreadCount, 0, "the sender has read their own"));
  const read = await api("POST", `/groups/${groupId}/read`, { seq: 2 }, bob.accessToken);
  assert.equal(read.status, 204, JSON.stringify(read.body));
  await eventually(async () => assert.equal((await unread(bob)).unreadCount, 1));
  // A watermark never moves back.
  await api("POST", `/groups/${groupId}/read`, { seq: 1 }, bob.accessToken);
  await api("POST", `/groups/${groupId}/read`, { seq: 3 }, bob.accessToken);
  await eventually(async () => assert.equal((await unread(bob)).unreadCount, 0));
  const outsider = await register(`unreadc_${suffix()}`);
  const refused = await api("POST", `/groups/${groupId}/read`, { seq: 1 }, outsider.accessToken);
  assert.deepEqual([refused.status, refused.body.error.code], [403, "NOT_A_MEMBER"]);
});

test("seen past the last seq is clamped to it", async (t) => {
  const { bob, groupId, a, b } = await pair(t, "clamp");
  await send(a, groupId, "one");
  await send(a, groupId, "two");
  const seen = waitFor(a, "chat.message.seen", (d) => d.userId === bob.user.id);
  assert.deepEqual(await emitWithAck(b, "chat.message.seen", { groupId, seq: 999 }), { ok: true });
  assert.equal((await seen).seq, 2);
  await eventually(async () => {
    const sync = await emitWithAck(b, "chat.sync", { groups: [{ groupId, afterSeq: 2 }] });
    assert.equal(sync.groups[0].readSeq, 2);
  });
  await send(a, groupId, "three");
  const r = await eventually(async () => {
    const g = (await api("GET", "/groups", null, bob.accessToken)).body.groups.find((x) => x.id === groupId);
    assert.equal(g.lastMessage.seq, 3);
    return g;
  });
  assert.equal(r.unreadCount, 1, "the clamped watermark did not swallow the next message");
});

test("typing reaches others on another node, never the typist, and expires", async (t) => {
  const { alice, groupId, a, b } = await pair(t, "typing");
  const mine = collect(a, "chat.typing");
  const started = nextEvent(b, "chat.typing");
  assert.deepEqual(await emitWithAck(a, "chat.typing", { groupId, isTyping: true }), { ok: true });
  assert.deepEqual(await started, { groupId, userId: alice.user.id, isTyping: true });
  // No refresh: within the expiry (5 s by default) the others are told it stopped.
  const t0 = Date.now();
  const stopped = await nextEvent(b, "chat.typing", 9000);
  assert.deepEqual(stopped, { groupId, userId: alice.user.id, isTyping: false });
  assert.ok(Date.now() - t0 < 8000, "expired within the typing lease");
  assert.deepEqual(mine, [], "the typist's own sockets hear nothing");
  const outsider = await register(`typingc_${suffix()}`);
  const c = await connect(outsider.accessToken, "127.0.0.2");
  t.after(() => c.close());
  const refused = await emitWithAck(c, "chat.typing", { groupId, isTyping: true });
  assert.deepEqual([refused.ok, refused.error.code], [false, "NOT_A_MEMBER"]);
});

test("editing someone else's message is refused; the sender's edit reaches everyone in order", async (t) => {
  const { groupId, a, b } = await pair(t, "edit");
  const sent = await send(a, groupId, "frist");
  const refused = await emitWithAck(b, "chat.message.edit", { messageId: sent.message.id, content: "hijacked" });
  assert.deepEqual([refused.ok, refused.error.code], [false, "FORBIDDEN"]);
  const edited = nextEvent(b, "chat.message.edited");
  const ok = await emitWithAck(a, "chat.message.edit", { messageId: sent.message.id, content: "first" });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  const got = await edited;
  assert.equal(got.id, sent.message.id);
  assert.equal(got.content, "first");
  assert.ok(got.editedAt);
  const outsider = await register(`editc_${suffix()}`);
  const c = await connect(outsider.accessToken, "127.0.0.2");
  t.after(() => c.close());
  const hidden = await emitWithAck(c, "chat.message.edit", { messageId: sent.message.id, content: "x" });
  assert.deepEqual([hidden.ok, hidden.error.code], [false, "MESSAGE_NOT_FOUND"], "an outsider learns nothing");
  const missing = await api("PATCH", "/messages/000000000000000000000000", { content: "x" }, outsider.accessToken);
  assert.deepEqual([missing.status, missing.body.error.code], [404, "MESSAGE_NOT_FOUND"]);
});

test("the owner and an admin delete others' messages, a member cannot; a deleted message keeps its seq", async (t) => {
  const s = suffix();
  const owner = await register(`delo_${s}`);
  const admin = await register(`dela_${s}`);
  const member = await register(`delm_${s}`);
  const g = await api("POST", "/groups", { name: "deletes", memberIds: [admin.user.id, member.user.id] }, owner.accessToken);
  const groupId = g.body.id;
  await api("PUT", `/groups/${groupId}/members/${admin.user.id}/role`, { role: "admin" }, owner.accessToken);
  const m = await connect(member.accessToken, "127.0.0.2");
  t.after(() => m.close());
  const { socket: o } = await connectElsewhere(owner.accessToken, await nodeOfEventually(m.id));
  t.after(() => o.close());
  const first = await send(m, groupId, "one");
  const second = await send(m, groupId, "two");
  const third = await send(o, groupId, "three");
  const refused = await api("DELETE", `/messages/${third.message.id}`, null, member.accessToken);
  assert.deepEqual([refused.status, refused.body.error.code], [403, "FORBIDDEN"]);
  const deleted = nextEvent(m, "chat.message.deleted");
  const byOwner = await emitWithAck(o, "chat.message.delete", { messageId: first.message.id });
  assert.equal(byOwner.ok, true, JSON.stringify(byOwner));
  assert.deepEqual(await deleted, { id: first.message.id, groupId, seq: 1 });
  const byAdmin = await api("DELETE", `/messages/${second.message.id}`, null, admin.accessToken);
  assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
  assert.equal(byAdmin.body.deleted, true);
  const own = await api("DELETE", `/messages/${third.message.id}`, null, owner.accessToken);
  assert.equal(own.status, 200);
  // The newest message was deleted: group lists show it as deleted, never its old content.
  await eventually(async () => {
    const g = (await api("GET", "/groups", null, member.accessToken)).body.groups.find((x) => x.id === groupId);
    assert.deepEqual([g.lastMessage.seq, g.lastMessage.deleted, g.lastMessage.content], [3, true, ""]);
  });
  await sleep(300);
  const still = (await api("GET", "/groups", null, member.accessToken)).body.groups.find((x) => x.id === groupId);
  assert.equal(still.lastMessage.content, "", "no older copy of the head was written over the deletion");
  const history = await api("GET", `/groups/${groupId}/messages?after=0`, null, member.accessToken);
  assert.deepEqual(
    history.body.messages.map((x) => [x.seq, x.deleted, x.content]),
    [[1, true, ""], [2, true, ""], [3, true, ""]],
  );
  const next = await send(m, groupId, "four");
  assert.equal(next.message.seq, 4, "deleted messages keep their seqs");
});

test("REST send is idempotent and reaches sockets once", async (t) => {
  const { alice, groupId, b } = await pair(t, "rest");
  const incoming = collect(b, "chat.message.incoming");
  const body = { content: "over HTTP", clientMsgId: `rest-${suffix()}` };
  const first = await api("POST", `/groups/${groupId}/messages`, body, alice.accessToken);
  assert.equal(first.status, 201, JSON.stringify(first.body));
  assert.equal(first.body.seq, 1);
  assert.equal(first.body.content, "over HTTP");
  const again = await api("POST", `/groups/${groupId}/messages`, body, alice.accessToken);
  assert.equal(again.status, 200, JSON.stringify(again.body));
  assert.equal(again.body.id, first.body.id);
  await eventually(async () => assert.equal(incoming.length, 1));
  await sleep(500);
  assert.deepEqual(incoming.map((m) => m.id), [first.body.id], "exactly once on the socket");
  const bad = await api("POST", `/groups/${groupId}/messages`, { content: "" }, alice.accessToken);
  assert.deepEqual([bad.status, bad.body.error.code], [400, "INVALID_MESSAGE"]);
  const outsider = await register(`restc_${suffix()}`);
  const refused = await api("POST", `/groups/${groupId}/messages`, { content: "hi" }, outsider.accessToken);
  assert.deepEqual([refused.status, refused.body.error.code], [403, "NOT_A_MEMBER"]);
});

// Idempotency comes before every other question: a client that never saw its ack (a dropped
// connection, a timeout) retries with the same clientMsgId, and by then it may have been removed
// from the group or have run out of allowance. It must get the first answer, not a refusal that
// makes it believe the message was never sent.
test("a retry of an acknowledged send gets its first answer even after the sender was removed or ran out of allowance, on the socket and over REST", async (t) => {
  const { alice, bob, groupId, b } = await pair(t, "retry");
  const bySocket = { groupId, content: "acked on the socket", clientMsgId: `rs-${suffix()}` };
  const first = await emitWithAck(b, "chat.message.send", bySocket);
  assert.equal(first.ok, true, JSON.stringify(first));
  const byRest = { content: "acked over REST", clientMsgId: `rr-${suffix()}` };
  const firstRest = await api("POST", `/groups/${groupId}/messages`, byRest, bob.accessToken);
  assert.equal(firstRest.status, 201, JSON.stringify(firstRest.body));
  const retries = async () => [
    await emitWithAck(b, "chat.message.send", bySocket),
    await api("POST", `/groups/${groupId}/messages`, byRest, bob.accessToken),
  ];
  const check = ([sock, rest], when) => {
    assert.equal(sock.ok, true, `${when}, the socket retry is answered: ${JSON.stringify(sock)}`);
    assert.equal(sock.message.id, first.message.id, `${when}, with the first message`);
    assert.equal(rest.status, 200, `${when}, the REST retry is answered: ${JSON.stringify(rest.body)}`);
    assert.equal(rest.body.id, firstRest.body.id, `${when}, with the first message`);
  };

  // Removed from the group: a new send is refused, a retry is answered.
  const removed = await api("DELETE", `/groups/${groupId}/members/${bob.user.id}`, null, alice.accessToken);
  assert.equal(removed.status, 204, JSON.stringify(removed.body));
  const fresh = await eventually(async () => {
    const r = await emitWithAck(b, "chat.message.send", { groupId, content: "new", clientMsgId: `rn-${suffix()}` });
    assert.equal(r.ok, false, "a new send after the removal is refused");
    return r;
  });
  assert.equal(fresh.error.code, "NOT_A_MEMBER");
  check(await retries(), "after the removal");

  // Out of allowance too (60 sends per 10 s in the test stack): 100 new posts at once, and the
  // retries the moment the first of them is refused for the limit (the bucket is empty then).
  let bucketEmpty;
  const empty = new Promise((resolve) => (bucketEmpty = resolve));
  const burst = Array.from({ length: 100 }, () =>
    api("POST", `/groups/${groupId}/messages`, { content: "x", clientMsgId: `rb-${suffix()}` }, bob.accessToken).then((r) => {
      if (r.status === 429) bucketEmpty();
      return r;
    }));
  await Promise.race([empty, Promise.all(burst)]);
  const pastLimit = await retries();
  const limited = (await Promise.all(burst)).filter((r) => r.status === 429).length;
  assert.ok(limited >= 10, `the allowance ran out (${limited} of 100 refused 429)`);
  check(pastLimit, "past the limit");
  console.log(`# retries of 2 acknowledged sends answered with their first message after the removal and past the limit (${limited} of 100 new posts refused 429)`);
  const history = await api("GET", `/groups/${groupId}/messages?after=0`, null, alice.accessToken);
  assert.deepEqual(history.body.messages.map((m) => m.id), [first.message.id, firstRest.body.id], "nothing was stored twice or after the removal");
});

test("a client that misses 5 messages, reconnects to another node and syncs gets exactly those 5 in order", async (t) => {
  const { bob, groupId, a, b } = await pair(t, "catchup");
  const seenLive = collect(b, "chat.message.incoming");
  await send(a, groupId, "before 1");
  await send(a, groupId, "before 2");
  await eventually(async () => assert.equal(seenLive.length, 2));
  const cursor = Math.max(...seenLive.map((m) => m.seq));
  const bNode = await nodeOfEventually(b.id);
  b.close();
  const missed = [];
  for (let i = 0; i < 5; i++) missed.push((await send(a, groupId, `while away ${i}`)).message.id);
  const { socket: back } = await connectElsewhere(bob.accessToken, bNode, 50);
  t.after(() => back.close());
  const sync = await emitWithAck(back, "chat.sync", { groups: [{ groupId, afterSeq: cursor }] });
  assert.equal(sync.ok, true, JSON.stringify(sync));
  assert.deepEqual(sync.groups, [{ groupId, status: "ok", headSeq: 7, readSeq: 0 }]);
  assert.deepEqual(sync.messages.map((m) => [m.seq, m.id]), missed.map((id, i) => [3 + i, id]));
  assert.equal(sync.more, false);
});

test("sync reports edits and deletes made while away as they stand now", async (t) => {
  const { bob, groupId, a, b } = await pair(t, "syncedit");
  const one = await send(a, groupId, "typo");
  const two = await send(a, groupId, "regret");
  b.close();
  await emitWithAck(a, "chat.message.edit", { messageId: one.message.id, content: "fixed" });
  await emitWithAck(a, "chat.message.delete", { messageId: two.message.id });
  const back = await connect(bob.accessToken, "127.0.0.2");
  t.after(() => back.close());
  const sync = await emitWithAck(back, "chat.sync", { groups: [{ groupId, afterSeq: 2 }] });
  assert.deepEqual(sync.messages.map((m) => [m.seq, m.content, m.deleted]), [[1, "fixed", false], [2, "", true]]);
});

test("sync of a group you left says gone; of a deleted group too", async (t) => {
  const { alice, bob, groupId, a, b } = await pair(t, "gone");
  await send(a, groupId, "bye");
  const left = await api("DELETE", `/groups/${groupId}/members/${bob.user.id}`, null, bob.accessToken);
  assert.equal(left.status, 204, JSON.stringify(left.body));
  const sync = await emitWithAck(b, "chat.sync", { groups: [{ groupId, afterSeq: 0 }] });
  assert.deepEqual(sync.groups.map((g) => [g.groupId, g.status]), [[groupId, "gone"]]);
  assert.deepEqual(sync.messages, []);
  const other = await api("POST", "/groups", { name: "doomed", memberIds: [bob.user.id] }, alice.accessToken);
  assert.equal((await api("DELETE", `/groups/${other.body.id}`, null, alice.accessToken)).status, 204);
  const again = await emitWithAck(b, "chat.sync", { groups: [{ groupId: other.body.id, afterSeq: 0 }] });
  assert.equal(again.groups[0].status, "gone");
});

test("sync of a foreign group leaks nothing", async (t) => {
  const { groupId, a } = await pair(t, "foreign");
  await send(a, groupId, "private matters");
  const outsider = await register(`foreignc_${suffix()}`);
  const c = await connect(outsider.accessToken, "127.0.0.2");
  t.after(() => c.close());
  const sync = await emitWithAck(c, "chat.sync", {
    groups: [{ groupId, afterSeq: 0 }, { groupId: "000000000000000000000000", afterSeq: 0 }],
  });
  assert.deepEqual(sync.groups, [
    { groupId, status: "unknown", headSeq: 0, readSeq: 0 },
    { groupId: "000000000000000000000000", status: "unknown", headSeq: 0, readSeq: 0 },
  ]);
  assert.deepEqual(sync.messages, []);
  const bad = await emitWithAck(c, "chat.sync", { groups: "nope" });
  assert.deepEqual([bad.ok, bad.error.code], [false, "INVALID_MESSAGE"]);
});

test("sync pages with more", async (t) => {
  const { alice, bob, groupId } = await pair(t, "paging");
  for (let i = 0; i < 7; i++) {
    const r = await api("POST", `/groups/${groupId}/messages`, { content: `page ${i}` }, alice.accessToken);
    assert.equal(r.status, 201);
  }
  const c = await connect(bob.accessToken, "127.0.0.3");
  t.after(() => c.close());
  const got = [];
  let cursor = 0;
  let pages = 0;
  for (;;) {
    const r = await emitWithAck(c, "chat.sync", { groups: [{ groupId, afterSeq: cursor }], limit: 3 });
    assert.equal(r.ok, true, JSON.stringify(r));
    pages++;
    got.push(...r.messages.map((m) => m.seq));
    if (r.messages.length) cursor = r.messages.at(-1).seq;
    if (!r.more) break;
    assert.equal(r.messages.length, 3);
  }
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(pages, 3);
});

test("a heartbeat is acknowledged", async (t) => {
  const { b } = await pair(t, "beat");
  assert.deepEqual(await emitWithAck(b, "user.heartbeat", {}), { ok: true });
});

test("sends from one socket get seqs in the order it sent them", async (t) => {
  const { groupId, a } = await pair(t, "order");
  // Thirty sends at once, none awaited before the next is emitted.
  const acks = await Promise.all(Array.from({ length: 30 }, (_, i) => send(a, groupId, `burst ${i}`)));
  assert.ok(acks.every((x) => x.ok), JSON.stringify(acks.find((x) => !x.ok)));
  assert.deepEqual(acks.map((x) => x.message.seq), Array.from({ length: 30 }, (_, i) => i + 1));
});

test("past the message limit a send is refused with RATE_LIMIT_EXCEEDED and a retry time, and the connection stays up", async (t) => {
  const { alice, groupId, a } = await pair(t, "limits");
  // A second socket on another chat node: the allowance is shared across nodes (Redis).
  const { socket: second } = await connectElsewhere(alice.accessToken, await nodeOfEventually(a.id), 9);
  t.after(() => second.close());
  // The limit is per user, over all of its sockets (60 per 10 s in the test stack).
  const acks = await Promise.all([
    ...Array.from({ length: 40 }, (_, i) => send(a, groupId, `first socket ${i}`)),
    ...Array.from({ length: 40 }, (_, i) => send(second, groupId, `second socket ${i}`)),
  ]);
  const refused = acks.filter((x) => !x.ok);
  console.log(`# 80 sends at once from one user's two sockets on two chat nodes: ${acks.length - refused.length} accepted, ${refused.length} refused`);
  assert.ok(refused.length >= 10, `the user's allowance was enforced (${refused.length} refused)`);
  assert.ok(refused.every((x) => x.error.code === "RATE_LIMIT_EXCEEDED" && x.error.retryAfterMs > 0), JSON.stringify(refused[0]));
  assert.ok(a.connected && second.connected, "nothing else happens to the connections");
  const stored = await api("GET", `/groups/${groupId}/messages?after=0&limit=200`, null, alice.accessToken);
  assert.equal(stored.body.messages.length, acks.length - refused.length, "refused sends stored nothing");
});

test("past a socket's event allowance an event is refused, and the socket stays up", async (t) => {
  const { b } = await pair(t, "flood");
  // 50 events per second in the test stack; 80 heartbeats at once overrun it.
  const acks = await Promise.all(Array.from({ length: 80 }, () => emitWithAck(b, "user.heartbeat", {})));
  const refused = acks.filter((x) => !x.ok);
  assert.ok(refused.length >= 20, `${refused.length} refused`);
  assert.ok(refused.every((x) => x.error.code === "RATE_LIMIT_EXCEEDED"));
  await sleep(1100);
  assert.deepEqual(await emitWithAck(b, "user.heartbeat", {}), { ok: true }, "the allowance refills");
  assert.ok(b.connected);
});

test("past the REST allowance a user gets 429 with Retry-After; REST sends share the message limit", async (t) => {
  const { alice, bob, groupId } = await pair(t, "rest429");
  // HUBBUB_E2E_REST_PER_MINUTE requests per minute per user in the test stack: go 50 past it.
  // The bucket refills meanwhile (allowance / 60 a second): keep going until it runs dry.
  const allowance = Number(process.env.HUBBUB_E2E_REST_PER_MINUTE ?? 300);
  const answers = [];
  for (let wave = 0; wave < 3 * Math.ceil(allowance / 50) && answers.filter((r) => r.status === 429).length < 40; wave++) {
    answers.push(...(await Promise.all(Array.from({ length: 50 }, () => api("GET", "/users/me", null, bob.accessToken)))));
  }
  const limited = answers.filter((r) => r.status === 429);
  console.log(`# ${answers.length} requests from one user: ${answers.length - limited.length} answered, ${limited.length} refused`);
  assert.ok(limited.length >= 40, `${limited.length} refused`);
  assert.equal(limited[0].body.error.code, "RATE_LIMIT_EXCEEDED");
  assert.ok(Number(limited[0].headers.get("retry-after")) >= 1);
  // Alice's own allowance is untouched; her REST sends draw on her message allowance (60 per 10 s).
  const sends = await Promise.all(
    Array.from({ length: 70 }, (_, i) => api("POST", `/groups/${groupId}/messages`, { content: `rest ${i}` }, alice.accessToken)),
  );
  const refused = sends.filter((r) => r.status === 429);
  assert.ok(refused.length >= 5, `${refused.length} REST sends refused`);
  assert.ok(sends.every((r) => r.status === 201 || r.status === 429), JSON.stringify(sends.find((r) => r.status !== 201 && r.status !== 429)?.body));
});

test("members hear a user come online and go offline, on any node, once for many sockets", async (t) => {
  const { bob, a, b } = await pair(t, "presence");
  // Bob's own arrival (he connected after Alice) may still be on its way: let it land first.
  await sleep(700);
  const changes = collect(a, "user.presence");
  const ofBob = () => changes.filter((c) => c.userId === bob.user.id);
  // Bob is online already: a second socket, on another node, and its closing are no news.
  const { socket: b2 } = await connectElsewhere(bob.accessToken, await nodeOfEventually(b.id));
  b2.close();
  await sleep(700);
  assert.deepEqual(ofBob(), [], "another socket of an online user is not a change");
  // His last socket closes: offline, with when he was last seen.
  const offline = waitFor(a, "user.presence", (c) => c.userId === bob.user.id && c.online === false);
  b.close();
  const gone = await offline;
  assert.ok(Date.now() - Date.parse(gone.lastSeenAt) < 30000, JSON.stringify(gone));
  // Back on any node: online.
  const online = waitFor(a, "user.presence", (c) => c.userId === bob.user.id && c.online === true);
  const b3 = await connect(bob.accessToken, "127.0.0.9");
  t.after(() => b3.close());
  await online;
  await sleep(300);
  assert.deepEqual(ofBob().map((c) => c.online), [false, true], JSON.stringify(ofBob()));
});
