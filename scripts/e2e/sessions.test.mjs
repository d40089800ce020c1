// Ending a session ends its sockets too, on every node: a password change, a logout, a deleted
// account, or an administrator's disconnect. A deleted account also leaves its groups.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { api, register, connect, connectElsewhere, nodeOfEventually, nextEvent, suffix, sleep, claimsOf, loginAdmin, PASSWORD } from "./lib.mjs";

function disconnected(socket, ms = 5000) {
  return nextEvent(socket, "disconnect", ms);
}

test("a password change closes the other sessions' open sockets and keeps this one's", async (t) => {
  const u = await register(`pw_${suffix()}`);
  const other = await api("POST", "/auth/login", { login: u.user.username, password: PASSWORD });
  const here = await connect(u.accessToken, "127.0.0.2");
  t.after(() => here.close());
  const { socket: there } = await connectElsewhere(other.body.accessToken, await nodeOfEventually(here.id));
  t.after(() => there.close());
  const closed = disconnected(there);
  const changed = await api("POST", "/auth/password", { currentPassword: PASSWORD, newPassword: "a brand new one" }, u.accessToken);
  assert.equal(changed.status, 204);
  assert.equal(await closed, "io server disconnect");
  await sleep(300);
  assert.ok(here.connected, "the session that changed the password keeps its socket");
  await assert.rejects(connect(other.body.accessToken, "127.0.0.3"), /UNAUTHORIZED/);
});

test("logging out closes that session's sockets", async (t) => {
  const u = await register(`lo_${suffix()}`);
  const s = await connect(u.accessToken, "127.0.0.4");
  t.after(() => s.close());
  const closed = disconnected(s);
  assert.equal((await api("POST", "/auth/logout", { refreshToken: u.refreshToken })).status, 204);
  assert.equal(await closed, "io server disconnect");
});

test("a deleted account's sockets close and it leaves its groups", async (t) => {
  const tag = suffix();
  const owner = await register(`go_${tag}`);
  const leaver = await register(`gl_${tag}`);
  const g = await api("POST", "/groups", { name: `g ${tag}`, memberIds: [leaver.user.id] }, owner.accessToken);
  const watcher = await connect(owner.accessToken, "127.0.0.2");
  t.after(() => watcher.close());
  const s = await connect(leaver.accessToken, "127.0.0.6");
  t.after(() => s.close());
  const closed = disconnected(s);
  const removed = nextEvent(watcher, "group.member.removed");
  assert.equal((await api("DELETE", "/users/me", null, leaver.accessToken)).status, 204);
  assert.equal(await closed, "io server disconnect");
  const event = await removed;
  assert.deepEqual([event.groupId, event.userId, event.left], [g.body.id, leaver.user.id, true]);
  const members = await api("GET", `/groups/${g.body.id}/members`, null, owner.accessToken);
  assert.deepEqual(members.body.members.map((m) => m.userId), [owner.user.id]);
});

test("an administrator disconnects every socket of a user on every node", async (t) => {
  const u = await register(`dc_${suffix()}`);
  const a = await connect(u.accessToken, "127.0.0.2");
  t.after(() => a.close());
  const { socket: b } = await connectElsewhere(u.accessToken, await nodeOfEventually(a.id));
  t.after(() => b.close());
  const admin = await loginAdmin();
  const refused = await api("DELETE", `/admin/users/${u.user.id}/connections`, null, u.accessToken);
  assert.equal(refused.status, 403);
  const closed = Promise.all([disconnected(a), disconnected(b)]);
  const done = await api("DELETE", `/admin/users/${u.user.id}/connections`, null, admin.body.accessToken);
  assert.equal(done.status, 204, JSON.stringify(done.body));
  assert.deepEqual(await closed, ["io server disconnect", "io server disconnect"]);
  // The token still works: a disconnect is not a revocation.
  const again = await connect(u.accessToken, "127.0.0.2");
  again.close();
});

test("a socket whose session ended cannot send even when the session-ended event was lost", async (t) => {
  const u = await register(`lost_${suffix()}`);
  const g = await api("POST", "/groups", { name: "lost event" }, u.accessToken);
  const s = await connect(u.accessToken, "127.0.0.5");
  t.after(() => s.close());
  const ok = await s.timeout(10000).emitWithAck("chat.message.send", { groupId: g.body.id, content: "before", clientMsgId: "a" });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  // The revocation as the auth service stores it, with no event at all: as if its publish failed.
  const sid = claimsOf(u.accessToken).sid;
  execFileSync("redis-cli", ["SET", `${process.env.HUBBUB_E2E_REDIS_PREFIX}revoked:s:${sid}`, "1", "EX", "600"]);
  const closed = disconnected(s);
  const refused = await s.timeout(10000).emitWithAck("chat.message.send", { groupId: g.body.id, content: "after", clientMsgId: "b" });
  assert.deepEqual([refused.ok, refused.error.code], [false, "UNAUTHORIZED"]);
  assert.equal(await closed, "io server disconnect");
  const history = await api("GET", `/groups/${g.body.id}/messages?after=0`, null, (await api("POST", "/auth/login", { login: u.user.username, password: PASSWORD })).body.accessToken);
  assert.deepEqual(history.body.messages.map((m) => m.content), ["before"], "nothing was posted after the end");
});
