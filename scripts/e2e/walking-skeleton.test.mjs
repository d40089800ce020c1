// The walking skeleton, end to end, through nginx, with the official Socket.IO client:
// register and login, a group with a second member, two clients on *different* chat nodes,
// one sends, the other receives, and history has the message.
//
// Environment: HUBBUB_URL (nginx, e.g. http://127.0.0.1:8080), HUBBUB_RUN (the stack's run
// directory: chat node logs tell which node holds which socket), SOCKETIO_CLIENT (the directory
// where socket.io-client is installed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { api, connect, connectElsewhere, nodeOfEventually, emitWithAck, nextEvent, BASE, suffix as newSuffix } from "./lib.mjs";

const suffix = newSuffix();

test("a message travels from one client to another on another node and lands in history", async (t) => {
  const password = "correct horse battery";
  const alice = await api("POST", "/auth/register", { username: `alice_${suffix}`, email: `alice_${suffix}@example.com`, password });
  assert.equal(alice.status, 201, JSON.stringify(alice.body));
  assert.ok(alice.requestId, "every response carries x-request-id");
  const bobReg = await api("POST", "/auth/register", { username: `bob_${suffix}`, email: `bob_${suffix}@example.com`, password, displayName: "Bob" });
  assert.equal(bobReg.status, 201, JSON.stringify(bobReg.body));
  assert.equal(bobReg.body.user.displayName, "Bob");

  // Login by email, as a client would after a restart.
  const bob = await api("POST", "/auth/login", { login: `bob_${suffix}@example.com`, password });
  assert.equal(bob.status, 200, JSON.stringify(bob.body));
  assert.equal(bob.body.user.id, bobReg.body.user.id);

  const group = await api("POST", "/groups", { name: "skeleton", visibility: "private", memberIds: [bob.body.user.id] }, alice.body.accessToken);
  assert.equal(group.status, 201, JSON.stringify(group.body));
  assert.equal(group.body.memberCount, 2);
  assert.equal(group.body.myRole, "owner");
  const groupId = group.body.id;

  const a = await connect(alice.body.accessToken, "127.0.0.2");
  t.after(() => a.close());
  const aNode = await nodeOfEventually(a.id);
  const { socket: b, node: bNode } = await connectElsewhere(bob.body.accessToken, aNode);
  t.after(() => b.close());
  assert.notEqual(aNode, bNode);

  const incoming = nextEvent(b, "chat.message.incoming");
  const ack = await emitWithAck(a, "chat.message.send", { groupId, content: "hello from the skeleton", clientMsgId: `c-${suffix}` });
  assert.equal(ack.ok, true, JSON.stringify(ack));
  assert.equal(ack.message.seq, 1);
  assert.equal(ack.message.groupId, groupId);
  assert.equal(ack.message.clientMsgId, `c-${suffix}`);
  assert.match(ack.message.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

  const got = await incoming;
  assert.equal(got.id, ack.message.id);
  assert.equal(got.seq, 1);
  assert.equal(got.content, "hello from the skeleton");
  assert.equal(got.senderId, alice.body.user.id);

  const history = await api("GET", `/groups/${groupId}/messages`, null, bob.body.accessToken);
  assert.equal(history.status, 200, JSON.stringify(history.body));
  assert.deepEqual(history.body.messages.map((m) => [m.id, m.seq, m.content]), [[ack.message.id, 1, "hello from the skeleton"]]);

  // A retried send (same clientMsgId) is acknowledged with the same message, and makes no second.
  const again = await emitWithAck(a, "chat.message.send", { groupId, content: "hello from the skeleton", clientMsgId: `c-${suffix}` });
  assert.equal(again.ok, true, JSON.stringify(again));
  assert.equal(again.message.id, ack.message.id);
  const second = await emitWithAck(a, "chat.message.send", { groupId, content: "second", clientMsgId: `d-${suffix}` });
  assert.equal(second.message.seq, 2, "the retry took no seq: numbering stays gapless");
  const after = await api("GET", `/groups/${groupId}/messages?after=0`, null, alice.body.accessToken);
  assert.deepEqual(after.body.messages.map((m) => m.seq), [1, 2]);
});

test("bad input gets a coded error and never costs the connection", async (t) => {
  const password = "correct horse battery";
  const carol = await api("POST", "/auth/register", { username: `carol_${suffix}`, email: `carol_${suffix}@example.com`, password });
  const dave = await api("POST", "/auth/register", { username: `dave_${suffix}`, email: `dave_${suffix}@example.com`, password });
  const group = await api("POST", "/groups", { name: "daves" }, dave.body.accessToken);
  const s = await connect(carol.body.accessToken, "127.0.0.2");
  t.after(() => s.close());

  const malformed = await emitWithAck(s, "chat.message.send", { nonsense: true });
  assert.deepEqual([malformed.ok, malformed.error.code], [false, "INVALID_MESSAGE"]);
  const notString = await emitWithAck(s, "chat.message.send", "just a string");
  assert.equal(notString.error.code, "INVALID_MESSAGE");
  const outsider = await emitWithAck(s, "chat.message.send", { groupId: group.body.id, content: "hi", clientMsgId: "x" });
  assert.deepEqual([outsider.ok, outsider.error.code], [false, "NOT_A_MEMBER"]);
  const history = await api("GET", `/groups/${group.body.id}/messages`, null, carol.body.accessToken);
  assert.deepEqual([history.status, history.body.error.code], [403, "NOT_A_MEMBER"]);
  assert.ok(s.connected, "the socket is still connected after bad input");

  const own = await api("POST", "/groups", { name: "carols" }, carol.body.accessToken);
  const tooLong = await emitWithAck(s, "chat.message.send", { groupId: own.body.id, content: "x".repeat(4001), clientMsgId: "long" });
  assert.deepEqual([tooLong.ok, tooLong.error.code], [false, "INVALID_MESSAGE"]);
  const ok = await emitWithAck(s, "chat.message.send", { groupId: own.body.id, content: "fine", clientMsgId: "fine" });
  assert.equal(ok.message.seq, 1, "a rejected message takes no seq");
});

test("a handshake with a bad token is refused with UNAUTHORIZED", async () => {
  await assert.rejects(connect("not-a-token", "127.0.0.2"), (err) => {
    assert.equal(err.message, "UNAUTHORIZED");
    return true;
  });
  await assert.rejects(connect(undefined, "127.0.0.2"), /UNAUTHORIZED/);
});

test("HTTP errors have API.md's shape and the request id", async () => {
  const res = await fetch(`${BASE}/api/v1/groups`, { headers: { "x-request-id": `e2e-${suffix}` } });
  assert.equal(res.headers.get("x-request-id"), `e2e-${suffix}`);
  const missing = await api("GET", "/groups/nope/messages");
  assert.equal(missing.status, 401);
  assert.equal(missing.body.error.code, "UNAUTHORIZED");
  assert.equal(missing.body.error.requestId, missing.requestId);
  const taken = await api("POST", "/auth/register", { username: `dup_${suffix}`, email: `dup_${suffix}@example.com`, password: "long enough" });
  assert.equal(taken.status, 201);
  const again = await api("POST", "/auth/register", { username: `DUP_${suffix}`, email: `other_${suffix}@example.com`, password: "long enough" });
  assert.deepEqual([again.status, again.body.error.code], [409, "USERNAME_TAKEN"]);
  const email = await api("POST", "/auth/register", { username: `dup2_${suffix}`, email: `DUP_${suffix}@example.com`, password: "long enough" });
  assert.deepEqual([email.status, email.body.error.code], [409, "EMAIL_TAKEN"]);
  const short = await api("POST", "/auth/register", { username: `s_${suffix}`, email: `s_${suffix}@example.com`, password: "short" });
  assert.deepEqual([short.status, short.body.error.code], [400, "VALIDATION_ERROR"]);
  const wrong = await api("POST", "/auth/login", { login: `dup_${suffix}`, password: "wrong password" });
  assert.deepEqual([wrong.status, wrong.body.error.code], [401, "INVALID_CREDENTIALS"]);
});
