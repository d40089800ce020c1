// API.md's admin routes, for administrators only: a user's connections on every node, every
// group (private ones and direct chats too), any group by id, and deleting any group.
import { test } from "node:test";
import assert from "node:assert/strict";
import { api, register, suffix, connect, nodeOfEventually, nextEvent, loginAdmin } from "./lib.mjs";

test("a user's connections are listed across nodes, and only for administrators", async () => {
  const u = await register(`conn_${suffix()}`);
  const sockets = [await connect(u.accessToken, "127.0.0.71"), await connect(u.accessToken, "127.0.0.72"), await connect(u.accessToken, "127.0.0.73")];
  try {
    const nodes = await Promise.all(sockets.map((s) => nodeOfEventually(s.id)));
    const plain = await api("GET", `/admin/connections?userId=${u.user.id}`, null, u.accessToken);
    assert.deepEqual([plain.status, plain.body.error.code], [403, "FORBIDDEN"]);
    const admin = (await loginAdmin()).body.accessToken;
    const r = await api("GET", `/admin/connections?userId=${u.user.id}`, null, admin);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.userId, u.user.id);
    const listed = r.body.connections.map((c) => `${c.node}/${c.socketId}`).sort();
    assert.deepEqual(listed, sockets.map((s, i) => `${nodes[i]}/${s.id}`).sort());
    assert.ok(r.body.connections.every((c) => Date.parse(c.leaseUntil) > Date.now()));
    const missing = await api("GET", "/admin/connections", null, admin);
    assert.deepEqual([missing.status, missing.body.error.code], [400, "VALIDATION_ERROR"]);
  } finally {
    sockets.forEach((s) => s.close());
  }
});

test("administrators list and read every group, private and direct too, and delete any of them", async () => {
  const tag = suffix();
  const [owner, member] = [await register(`own_${tag}`), await register(`mem_${tag}`)];
  const priv = await api("POST", "/groups", { name: `zz-private ${tag}`, memberIds: [member.user.id] }, owner.accessToken);
  assert.equal(priv.status, 201, JSON.stringify(priv.body));
  const refused = await api("GET", "/admin/groups", null, owner.accessToken);
  assert.deepEqual([refused.status, refused.body.error.code], [403, "FORBIDDEN"]);
  const admin = (await loginAdmin()).body.accessToken;
  const found = await api("GET", `/admin/groups?q=${encodeURIComponent(`zz-private ${tag}`)}`, null, admin);
  assert.equal(found.status, 200, JSON.stringify(found.body));
  assert.deepEqual(found.body.groups.map((g) => g.id), [priv.body.id], "a private group is found by an admin");
  const got = await api("GET", `/admin/groups/${priv.body.id}`, null, admin);
  assert.deepEqual([got.status, got.body.id, got.body.memberCount], [200, priv.body.id, 2]);
  assert.equal((await api("GET", `/groups/${priv.body.id}`, null, (await register(`out_${tag}`)).accessToken)).status, 404, "an outsider still sees nothing");
  const direct = await api("POST", "/groups/direct", { userId: member.user.id }, owner.accessToken);
  assert.ok([200, 201].includes(direct.status), JSON.stringify(direct.body));
  const dm = await api("GET", `/admin/groups/${direct.body.id}`, null, admin);
  assert.deepEqual([dm.status, dm.body.kind], [200, "direct"]);

  const socket = await connect(member.accessToken, "127.0.0.74");
  try {
    const told = nextEvent(socket, "group.deleted");
    const deleted = await api("DELETE", `/admin/groups/${priv.body.id}`, null, admin);
    assert.equal(deleted.status, 204, JSON.stringify(deleted.body));
    assert.equal((await told).id, priv.body.id, "members are told, as for an owner's delete");
  } finally {
    socket.close();
  }
  assert.equal((await api("GET", `/admin/groups/${priv.body.id}`, null, admin)).status, 404);
  assert.equal((await api("DELETE", `/admin/groups/${priv.body.id}`, null, admin)).status, 404);
});
