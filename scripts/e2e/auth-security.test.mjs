// The security table of the accounts issue, each row a test, through nginx: forged, expired and
// misaddressed tokens, tokens of deleted accounts, refresh reuse, password changes, search
// privacy, and login rate limits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { api, apiFrom, register, connect, jwt, claimsOf, suffix, sleep, loginAdmin, PASSWORD, TOKEN_SECRET, ADMIN } from "./lib.mjs";

async function expect401(token, why) {
  const r = await api("GET", "/users/me", null, token);
  assert.equal(r.status, 401, `${why}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error.code, "UNAUTHORIZED");
  await assert.rejects(connect(token), /UNAUTHORIZED/, `${why}: the socket handshake refuses it too`);
}

// A user, with a genuine token to tamper with.
async function victim() {
  const u = await register(`sec_${suffix()}`);
  const me = await api("GET", "/users/me", null, u.accessToken);
  assert.equal(me.status, 200, "the genuine token works");
  return u;
}

test("a token with a tampered signature is refused", async () => {
  const u = await victim();
  const [h, p, sig] = u.accessToken.split(".");
  const flipped = sig.slice(0, -2) + (sig.at(-2) === "A" ? "B" : "A") + sig.at(-1);
  await expect401(`${h}.${p}.${flipped}`, "tampered signature");
  // A payload changed to another user, signature kept.
  const other = Buffer.from(JSON.stringify({ ...claimsOf(u.accessToken), sub: "someone-else" })).toString("base64url");
  await expect401(`${h}.${other}.${sig}`, "tampered payload");
});

test("an expired token is refused", async () => {
  const u = await victim();
  const now = Math.floor(Date.now() / 1000);
  const claims = { ...claimsOf(u.accessToken), iat: now - 3600, exp: now - 60 };
  await expect401(jwt({ alg: "HS256", typ: "JWT", kid: "k1" }, claims), "expired");
});

test("a token with alg none is refused", async () => {
  const u = await victim();
  await expect401(jwt({ alg: "none", typ: "JWT", kid: "k1" }, claimsOf(u.accessToken)), "alg none");
  await expect401(jwt({ alg: "none", typ: "JWT" }, claimsOf(u.accessToken)), "alg none, no kid");
});

test("a token signed with another algorithm is refused", async () => {
  const u = await victim();
  for (const alg of ["HS384", "HS512"]) {
    await expect401(jwt({ alg, typ: "JWT", kid: "k1" }, claimsOf(u.accessToken)), alg);
  }
  // Claiming RS256 while signing with the shared secret (the classic key-confusion attack).
  await expect401(jwt({ alg: "RS256", typ: "JWT", kid: "k1" }, claimsOf(u.accessToken)), "RS256 header");
});

test("a token for another audience or issuer, or with an unknown key id, is refused", async () => {
  const u = await victim();
  const claims = claimsOf(u.accessToken);
  const header = { alg: "HS256", typ: "JWT", kid: "k1" };
  await expect401(jwt(header, { ...claims, aud: "someone-else" }), "wrong audience");
  await expect401(jwt(header, { ...claims, iss: "evil" }), "wrong issuer");
  await expect401(jwt({ ...header, kid: "k9" }, claims), "unknown kid");
  await expect401(jwt(header, { ...claims }, "a-different-secret-of-at-least-32-bytes"), "another secret");
  // The same claims signed properly pass: the rows above fail for their one defect only.
  assert.equal((await api("GET", "/users/me", null, jwt(header, claims, TOKEN_SECRET))).status, 200);
});

test("the token of a deleted account is refused at once", async () => {
  const u = await victim();
  const s = await connect(u.accessToken);
  s.close();
  const del = await api("DELETE", "/users/me", null, u.accessToken);
  assert.equal(del.status, 204, JSON.stringify(del.body));
  await expect401(u.accessToken, "deleted account");
  const refreshed = await api("POST", "/auth/refresh", { refreshToken: u.refreshToken });
  assert.equal(refreshed.status, 401);
  const login = await api("POST", "/auth/login", { login: u.user.username, password: PASSWORD });
  assert.equal(login.status, 401);
  const profile = await api("GET", `/users/${u.user.id}`, null, (await register(`obs_${suffix()}`)).accessToken);
  assert.deepEqual([profile.status, profile.body.error.code], [404, "USER_NOT_FOUND"]);
});

test("reusing a spent refresh token revokes its whole family", async () => {
  const u = await victim();
  const r1 = await api("POST", "/auth/refresh", { refreshToken: u.refreshToken });
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  assert.notEqual(r1.body.refreshToken, u.refreshToken);
  const r2 = await api("POST", "/auth/refresh", { refreshToken: r1.body.refreshToken });
  assert.equal(r2.status, 200);

  const replay = await api("POST", "/auth/refresh", { refreshToken: u.refreshToken });
  assert.deepEqual([replay.status, replay.body.error.code], [401, "REFRESH_TOKEN_REUSED"]);
  const newest = await api("POST", "/auth/refresh", { refreshToken: r2.body.refreshToken });
  assert.deepEqual([newest.status, newest.body.error.code], [401, "INVALID_REFRESH_TOKEN"]);
  await expect401(r2.body.accessToken, "the family's access token");
});

test("a password change kills the other sessions and keeps this one", async () => {
  const u = await victim();
  const other = await api("POST", "/auth/login", { login: u.user.username, password: PASSWORD });
  const changed = await api("POST", "/auth/password", { currentPassword: PASSWORD, newPassword: "battery staple horse" }, u.accessToken);
  assert.equal(changed.status, 204, JSON.stringify(changed.body));
  const stale = await api("POST", "/auth/refresh", { refreshToken: other.body.refreshToken });
  assert.equal(stale.status, 401);
  await expect401(other.body.accessToken, "the other session's access token");
  assert.equal((await api("GET", "/users/me", null, u.accessToken)).status, 200, "this session lives on");
  assert.equal((await api("POST", "/auth/refresh", { refreshToken: u.refreshToken })).status, 200);
  const wrong = await api("POST", "/auth/password", { currentPassword: "nope nope", newPassword: "whatever whatever" }, u.accessToken);
  assert.deepEqual([wrong.status, wrong.body.error.code], [403, "WRONG_PASSWORD"]);
});

test("search results carry no emails", async () => {
  const tag = suffix();
  const a = await register(`find_${tag}_a`);
  await register(`find_${tag}_b`);
  await register(`find_${tag}_c`);
  const page1 = await api("GET", `/users?q=FIND_${tag}&limit=2`, null, a.accessToken);
  assert.equal(page1.status, 200, JSON.stringify(page1.body));
  assert.deepEqual(page1.body.users.map((u) => u.username), [`find_${tag}_a`, `find_${tag}_b`]);
  const page2 = await api("GET", `/users?q=find_${tag}&limit=2&cursor=${page1.body.nextCursor}`, null, a.accessToken);
  assert.deepEqual(page2.body.users.map((u) => u.username), [`find_${tag}_c`]);
  assert.equal(page2.body.nextCursor, undefined);
  for (const body of [page1.body, page2.body, (await api("GET", `/users/${a.user.id}`, null, a.accessToken)).body]) {
    assert.ok(!JSON.stringify(body).includes("@"), `no email anywhere: ${JSON.stringify(body)}`);
  }
  const empty = await api("GET", "/users?q=", null, a.accessToken);
  assert.deepEqual([empty.status, empty.body.error.code], [400, "VALIDATION_ERROR"]);
});

test("100 wrong passwords get 429 with Retry-After from that address, and the victim and other accounts log in as usual", async () => {
  const target = await victim();
  const bystander = await register(`by_${suffix()}`);
  const before = await api("POST", "/auth/login", { login: bystander.user.username, password: PASSWORD });
  assert.equal(before.status, 200);
  const statuses = [];
  let retryAfter = null;
  for (let i = 0; i < 100; i++) {
    const r = await api("POST", "/auth/login", { login: target.user.username, password: `wrong-${i}-password` });
    statuses.push(r.status);
    if (r.status === 429) retryAfter ??= Number(r.headers.get("retry-after"));
  }
  const limited = statuses.filter((s) => s === 429).length;
  assert.deepEqual(new Set(statuses), new Set([401, 429]));
  assert.ok(limited >= 85, `most attempts were refused outright: ${limited} of 100`);
  assert.ok(retryAfter >= 1 && retryAfter <= 900, `Retry-After ${retryAfter}`);
  // Even the right password waits out the window now, from the attacker's address; the victim,
  // elsewhere, is not locked out of their own account.
  const right = await api("POST", "/auth/login", { login: target.user.username, password: PASSWORD });
  assert.equal(right.status, 429);
  const victimElsewhere = await apiFrom("127.0.0.77", "POST", "/auth/login", { login: target.user.username, password: PASSWORD });
  assert.equal(victimElsewhere.status, 200, JSON.stringify(victimElsewhere.body));
  const after = await api("POST", "/auth/login", { login: bystander.user.username, password: PASSWORD });
  assert.equal(after.status, 200, JSON.stringify(after.body));
  console.log(`# bystander login: ${before.ms.toFixed(0)} ms before the attack, ${after.ms.toFixed(0)} ms after`);
});

test("profile, presence and last-seen follow the user's sockets", async () => {
  const u = await register(`pres_${suffix()}`);
  const patched = await api("PATCH", "/users/me", { displayName: "Presence Person", bio: "here" }, u.accessToken);
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.deepEqual([patched.body.displayName, patched.body.bio], ["Presence Person", "here"]);
  const unknownField = await api("PATCH", "/users/me", { email: "x@y.z" }, u.accessToken);
  assert.equal(unknownField.status, 400, "the email cannot be changed through the profile");
  const offline = await api("GET", `/users/${u.user.id}/presence`, null, u.accessToken);
  assert.deepEqual(offline.body, { online: false, lastSeenAt: null });
  const s = await connect(u.accessToken);
  const online = await api("GET", `/users/${u.user.id}/presence`, null, u.accessToken);
  assert.equal(online.body.online, true);
  s.close();
  let gone = null;
  for (let i = 0; i < 50 && !gone?.lastSeenAt; i++) {
    await sleep(100);
    gone = (await api("GET", `/users/${u.user.id}/presence`, null, u.accessToken)).body;
  }
  assert.equal(gone.online, false);
  assert.match(gone.lastSeenAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const me = await api("GET", "/users/me", null, u.accessToken);
  assert.equal(me.body.lastSeenAt, gone.lastSeenAt);
});

test("admin routes are for administrators only", async () => {
  const user = await register(`plain_${suffix()}`);
  const refused = await api("GET", "/admin/nodes", null, user.accessToken);
  assert.deepEqual([refused.status, refused.body.error.code], [403, "FORBIDDEN"]);
  assert.ok(ADMIN, "HUBBUB_E2E_ADMIN names the configured first admin");
  const admin = await loginAdmin();
  assert.equal(admin.body.role, "admin", JSON.stringify(admin.body));
  // Nobody else can take the name, whatever the password.
  const stolen = await api("POST", "/auth/register", { username: ADMIN, email: `thief_${suffix()}@example.com`, password: PASSWORD });
  assert.deepEqual([stolen.status, stolen.body.error.code], [409, "USERNAME_TAKEN"]);
  const nodes = await api("GET", "/admin/nodes", null, admin.body.accessToken);
  assert.equal(nodes.status, 200, JSON.stringify(nodes.body));
  assert.deepEqual(nodes.body.nodes.map((n) => n.id), ["chat-1", "chat-2", "chat-3"]);
});

test("anonymous requests are limited per client address: 429 with Retry-After past the allowance, other addresses unaffected", async () => {
  // The e2e stack allows 1,000 a minute per address (a token bucket refilling 1,000 a minute):
  // 1,300 quick ones from one address cannot all pass.
  const started = performance.now();
  const statuses = [];
  let retryAfter = null;
  for (let wave = 0; wave < 13; wave++) {
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => apiFrom("127.0.0.98", "POST", "/auth/refresh", { refreshToken: "not-a-token" })),
    );
    for (const a of answers) {
      statuses.push(a.status);
      if (a.status === 429) retryAfter ??= Number(a.headers["retry-after"]);
    }
  }
  const refused = statuses.filter((s) => s === 429).length;
  const answered = statuses.filter((s) => s === 401).length;
  const elsewhere = await apiFrom("127.0.0.97", "POST", "/auth/refresh", { refreshToken: "not-a-token" });
  console.log(
    `# ${statuses.length} anonymous requests from one address in ${(performance.now() - started).toFixed(0)} ms: ` +
      `${answered} answered 401, ${refused} refused 429 (Retry-After ${retryAfter} s); another address: ${elsewhere.status}`,
  );
  assert.equal(answered + refused, statuses.length, `only 401 or 429: ${[...new Set(statuses)]}`);
  assert.ok(refused >= 100, `${refused} refused`);
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  assert.equal(elsewhere.status, 401, "another address is not held back");
});
