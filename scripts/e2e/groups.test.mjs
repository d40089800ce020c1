// Groups, direct chats and rooms through nginx: the authorization matrix (each cell a test),
// membership that every chat node obeys at once, direct chats unique per pair, invites, public
// rooms, and ownership handed over when the last owner leaves.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  api, register, connect, connectElsewhere, nodeOfEventually, emitWithAck, nextEvent, collect, suffix, sleep,
} from "./lib.mjs";

// A private group: owner, admin and member; and an outsider.
async function cast() {
  const tag = suffix();
  const [owner, admin, member, outsider, extra] = await Promise.all(
    ["own", "adm", "mem", "out", "ext"].map((r) => register(`${r}_${tag}`)),
  );
  const g = await api("POST", "/groups", { name: `crew ${tag}`, memberIds: [admin.user.id, member.user.id] }, owner.accessToken);
  assert.equal(g.status, 201, JSON.stringify(g.body));
  const promoted = await api("PUT", `/groups/${g.body.id}/members/${admin.user.id}/role`, { role: "admin" }, owner.accessToken);
  assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
  return { owner, admin, member, outsider, extra, group: g.body, id: g.body.id };
}

function expectError(r, status, code) {
  assert.deepEqual([r.status, r.body?.error?.code], [status, code], JSON.stringify(r.body));
}

// ---- the matrix: a non-member -------------------------------------------------------------

test("a non-member cannot read a private group's members (it does not exist for them)", async () => {
  const c = await cast();
  expectError(await api("GET", `/groups/${c.id}/members`, null, c.outsider.accessToken), 404, "GROUP_NOT_FOUND");
  expectError(await api("GET", `/groups/${c.id}`, null, c.outsider.accessToken), 404, "GROUP_NOT_FOUND");
});

test("a non-member cannot read a public room's members", async () => {
  const c = await cast();
  const room = await api("POST", "/groups", { name: `lobby ${suffix()}`, kind: "room" }, c.owner.accessToken);
  assert.equal(room.body.visibility, "public");
  expectError(await api("GET", `/groups/${room.body.id}/members`, null, c.outsider.accessToken), 403, "NOT_A_MEMBER");
  assert.equal((await api("GET", `/groups/${room.body.id}`, null, c.outsider.accessToken)).status, 200, "but may see the room");
});

test("a non-member cannot read history", async () => {
  const c = await cast();
  expectError(await api("GET", `/groups/${c.id}/messages`, null, c.outsider.accessToken), 403, "NOT_A_MEMBER");
});

test("a non-member cannot send to a group", async (t) => {
  const c = await cast();
  const s = await connect(c.outsider.accessToken);
  t.after(() => s.close());
  const ack = await emitWithAck(s, "chat.message.send", { groupId: c.id, content: "let me in", clientMsgId: "x1" });
  assert.deepEqual([ack.ok, ack.error.code], [false, "NOT_A_MEMBER"]);
});

// ---- the matrix: a member -----------------------------------------------------------------

test("a member cannot add others", async () => {
  const c = await cast();
  expectError(await api("POST", `/groups/${c.id}/members`, { userId: c.extra.user.id }, c.member.accessToken), 403, "FORBIDDEN");
});

test("a member cannot remove others", async () => {
  const c = await cast();
  expectError(await api("DELETE", `/groups/${c.id}/members/${c.admin.user.id}`, null, c.member.accessToken), 403, "FORBIDDEN");
});

test("a member cannot delete the group", async () => {
  const c = await cast();
  expectError(await api("DELETE", `/groups/${c.id}`, null, c.member.accessToken), 403, "FORBIDDEN");
});

test("a member cannot change the group", async () => {
  const c = await cast();
  expectError(await api("PATCH", `/groups/${c.id}`, { name: "mine now" }, c.member.accessToken), 403, "FORBIDDEN");
});

// ---- the matrix: an admin -----------------------------------------------------------------

test("an admin cannot change roles", async () => {
  const c = await cast();
  const r = await api("PUT", `/groups/${c.id}/members/${c.member.user.id}/role`, { role: "admin" }, c.admin.accessToken);
  expectError(r, 403, "FORBIDDEN");
});

test("an admin cannot delete the group or remove the owner", async () => {
  const c = await cast();
  expectError(await api("DELETE", `/groups/${c.id}`, null, c.admin.accessToken), 403, "FORBIDDEN");
  expectError(await api("DELETE", `/groups/${c.id}/members/${c.owner.user.id}`, null, c.admin.accessToken), 403, "FORBIDDEN");
});

test("an admin can add and remove members and change the group", async () => {
  const c = await cast();
  const added = await api("POST", `/groups/${c.id}/members`, { userId: c.extra.user.id }, c.admin.accessToken);
  assert.equal(added.status, 201, JSON.stringify(added.body));
  assert.deepEqual([added.body.userId, added.body.role], [c.extra.user.id, "member"]);
  expectError(await api("POST", `/groups/${c.id}/members`, { userId: c.extra.user.id }, c.admin.accessToken), 409, "ALREADY_A_MEMBER");
  expectError(await api("POST", `/groups/${c.id}/members`, { userId: "no-such-user" }, c.admin.accessToken), 404, "USER_NOT_FOUND");
  assert.equal((await api("DELETE", `/groups/${c.id}/members/${c.extra.user.id}`, null, c.admin.accessToken)).status, 204);
  const renamed = await api("PATCH", `/groups/${c.id}`, { name: "renamed", description: "d" }, c.admin.accessToken);
  assert.deepEqual([renamed.status, renamed.body.name, renamed.body.description], [200, "renamed", "d"]);
  const members = await api("GET", `/groups/${c.id}/members?limit=2`, null, c.member.accessToken);
  assert.equal(members.body.members.length, 2);
  const rest = await api("GET", `/groups/${c.id}/members?limit=2&cursor=${members.body.nextCursor}`, null, c.member.accessToken);
  assert.deepEqual(
    [...members.body.members, ...rest.body.members].map((m) => m.role).sort(),
    ["admin", "member", "owner"],
  );
});

// ---- membership every chat node obeys at once ---------------------------------------------

test("a removed member's socket on another node is told and stops receiving", async (t) => {
  const c = await cast();
  const ownerSocket = await connect(c.owner.accessToken, "127.0.0.2");
  t.after(() => ownerSocket.close());
  const ownerNode = await nodeOfEventually(ownerSocket.id);
  const { socket: memberSocket, node: memberNode } = await connectElsewhere(c.member.accessToken, ownerNode);
  t.after(() => memberSocket.close());
  assert.notEqual(ownerNode, memberNode);

  const before = nextEvent(memberSocket, "chat.message.incoming");
  await emitWithAck(ownerSocket, "chat.message.send", { groupId: c.id, content: "still here?", clientMsgId: "m1" });
  assert.equal((await before).content, "still here?");

  const removedEvent = nextEvent(memberSocket, "group.member.removed");
  const started = performance.now();
  const removed = await api("DELETE", `/groups/${c.id}/members/${c.member.user.id}`, null, c.owner.accessToken);
  assert.equal(removed.status, 204);
  const told = await removedEvent;
  const elapsed = performance.now() - started;
  assert.deepEqual([told.groupId, told.userId, told.left], [c.id, c.member.user.id, false]);
  // A figure, not a pass mark: a busy machine may take longer.
  console.log(`# removal to the socket leaving the room (other node): ${elapsed.toFixed(0)} ms`);

  const leaked = collect(memberSocket, "chat.message.incoming");
  const adminSocket = await connect(c.admin.accessToken, "127.0.0.2");
  t.after(() => adminSocket.close());
  const adminGot = nextEvent(adminSocket, "chat.message.incoming");
  await emitWithAck(ownerSocket, "chat.message.send", { groupId: c.id, content: "gone now", clientMsgId: "m2" });
  assert.equal((await adminGot).content, "gone now");
  await sleep(300);
  assert.deepEqual(leaked, [], "the removed member received nothing more");
  const send = await emitWithAck(memberSocket, "chat.message.send", { groupId: c.id, content: "hello?", clientMsgId: "m3" });
  assert.deepEqual([send.ok, send.error.code], [false, "NOT_A_MEMBER"]);
});

test("an added member's open socket joins the room at once and gets the group's events", async (t) => {
  const c = await cast();
  const s = await connect(c.extra.accessToken, "127.0.0.5");
  t.after(() => s.close());
  const added = nextEvent(s, "group.member.added");
  assert.equal((await api("POST", `/groups/${c.id}/members`, { userId: c.extra.user.id }, c.owner.accessToken)).status, 201);
  const event = await added;
  assert.deepEqual([event.groupId, event.member.userId, event.group.id], [c.id, c.extra.user.id, c.id]);
  const incoming = nextEvent(s, "chat.message.incoming");
  const o = await connect(c.owner.accessToken, "127.0.0.2");
  t.after(() => o.close());
  await emitWithAck(o, "chat.message.send", { groupId: c.id, content: "welcome", clientMsgId: "w1" });
  assert.equal((await incoming).content, "welcome");
  const updated = nextEvent(s, "group.updated");
  await api("PATCH", `/groups/${c.id}`, { name: "new name" }, c.owner.accessToken);
  assert.equal((await updated).name, "new name");
  const deleted = nextEvent(s, "group.deleted");
  assert.equal((await api("DELETE", `/groups/${c.id}`, null, c.owner.accessToken)).status, 204);
  assert.equal((await deleted).id, c.id);
  expectError(await api("GET", `/groups/${c.id}`, null, c.owner.accessToken), 404, "GROUP_NOT_FOUND");
});

// ---- direct chats, rooms, invites, ownership ----------------------------------------------

test("a direct chat raced from both users at once is one group", async () => {
  const tag = suffix();
  const [a, b] = await Promise.all([register(`da_${tag}`), register(`db_${tag}`)]);
  const [x, y] = await Promise.all([
    api("POST", "/groups/direct", { userId: b.user.id }, a.accessToken),
    api("POST", "/groups/direct", { userId: a.user.id }, b.accessToken),
  ]);
  assert.equal(x.body.id, y.body.id, `${JSON.stringify(x.body)} / ${JSON.stringify(y.body)}`);
  assert.deepEqual([x.status, y.status].sort(), [200, 201]);
  assert.equal(x.body.kind, "direct");
  const again = await api("POST", "/groups/direct", { userId: b.user.id }, a.accessToken);
  assert.deepEqual([again.status, again.body.id], [200, x.body.id]);
  expectError(await api("POST", `/groups/${x.body.id}/members`, { userId: (await register(`dc_${tag}`)).user.id }, a.accessToken), 422, "DIRECT_CHAT");
  expectError(await api("POST", "/groups/direct", { userId: a.user.id }, a.accessToken), 400, "VALIDATION_ERROR");
});

test("public rooms are found by name prefix and joined; private groups by invite only", async () => {
  const c = await cast();
  const tag = suffix();
  for (const n of ["alpha", "alpine", "beta"]) {
    await api("POST", "/groups", { name: `${tag} ${n}`, kind: "room" }, c.owner.accessToken);
  }
  const found = await api("GET", `/groups/public?q=${encodeURIComponent(`${tag} AL`)}&limit=1`, null, c.outsider.accessToken);
  assert.equal(found.status, 200, JSON.stringify(found.body));
  assert.deepEqual(found.body.groups.map((g) => g.name), [`${tag} alpha`]);
  const next = await api("GET", `/groups/public?q=${encodeURIComponent(`${tag} al`)}&limit=1&cursor=${found.body.nextCursor}`, null, c.outsider.accessToken);
  assert.deepEqual(next.body.groups.map((g) => g.name), [`${tag} alpine`]);
  const joined = await api("POST", `/groups/${found.body.groups[0].id}/join`, null, c.outsider.accessToken);
  assert.deepEqual([joined.status, joined.body.myRole], [200, "member"]);

  expectError(await api("POST", `/groups/${c.id}/join`, null, c.outsider.accessToken), 404, "GROUP_NOT_FOUND");
  expectError(await api("POST", `/groups/${c.id}/invites`, null, c.member.accessToken), 403, "FORBIDDEN");
  const invite = await api("POST", `/groups/${c.id}/invites`, null, c.admin.accessToken);
  assert.equal(invite.status, 201, JSON.stringify(invite.body));
  assert.ok(Date.parse(invite.body.expiresAt) > Date.now());
  const accepted = await api("POST", `/invites/${invite.body.code}/accept`, null, c.outsider.accessToken);
  assert.deepEqual([accepted.status, accepted.body.id, accepted.body.myRole], [200, c.id, "member"]);
  expectError(await api("POST", "/invites/not-a-code/accept", null, c.outsider.accessToken), 404, "INVITE_NOT_FOUND");

  const mine = await api("GET", "/groups", null, c.outsider.accessToken);
  assert.ok(mine.body.groups.some((g) => g.id === c.id));
});

test("when the last owner leaves, the longest-serving admin becomes owner", async () => {
  const c = await cast();
  assert.equal((await api("DELETE", `/groups/${c.id}/members/${c.owner.user.id}`, null, c.owner.accessToken)).status, 204);
  const g = await api("GET", `/groups/${c.id}`, null, c.admin.accessToken);
  assert.deepEqual([g.body.ownerId, g.body.myRole, g.body.memberCount], [c.admin.user.id, "owner", 2]);
  expectError(await api("PUT", `/groups/${c.id}/members/${c.admin.user.id}/role`, { role: "member" }, c.admin.accessToken), 422, "LAST_OWNER");
});

test("my groups list shows each group's newest message, most recent activity first", async (t) => {
  const c = await cast();
  const later = await api("POST", "/groups", { name: "newer but quiet", memberIds: [c.member.user.id] }, c.owner.accessToken);
  const s = await connect(c.member.accessToken);
  t.after(() => s.close());
  await emitWithAck(s, "chat.message.send", { groupId: c.id, content: "latest", clientMsgId: "l1" });
  let mine = null;
  // Activity follows message events: give the group service a moment to record it.
  for (let i = 0; i < 50; i++) {
    mine = await api("GET", "/groups?limit=2", null, c.member.accessToken);
    if (mine.body.groups[0]?.id === c.id) break;
    await sleep(100);
  }
  assert.deepEqual(mine.body.groups.map((g) => g.id), [c.id, later.body.id], "the group with the newest message comes first");
  const g = mine.body.groups[0];
  assert.deepEqual([g.myRole, g.lastMessage?.content, g.lastMessage?.seq], ["member", "latest", 1]);
  assert.equal(mine.body.groups[1].lastMessage, undefined);
});
