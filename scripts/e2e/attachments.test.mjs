// Attachments through nginx against the real S3-compatible server: a member signs an upload to
// a group, PUTs the bytes straight to storage (nginx in front answers CORS), and names the
// upload in a message; members fetch it through a redirect. One test per rule.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { api, register, suffix, BASE, RUN, connect, nextEvent, sleep, png, launchChromium } from "./lib.mjs";

const UPLOAD_MAX = Number(process.env.HUBBUB_E2E_UPLOAD_MAX_BYTES ?? 25 * 1024 * 1024);
const ORPHAN_SECS = Number(process.env.HUBBUB_E2E_ORPHAN_SECS ?? 86400);

async function put(upload, body, overrides = {}) {
  const headers = { ...upload.headers, ...overrides };
  delete headers["content-length"]; // fetch sets it from the body
  return (await fetch(upload.url, { method: "PUT", headers, body })).status;
}

async function crew(...names) {
  const people = [];
  for (const n of names) people.push(await register(`${n}_${suffix()}`));
  const g = await api("POST", "/groups", { name: `files ${suffix()}`, memberIds: people.slice(1).map((p) => p.user.id) }, people[0].accessToken);
  assert.equal(g.status, 201, JSON.stringify(g.body));
  return { group: g.body, people };
}

async function upload(who, groupId, name, contentType, bytes) {
  const up = await api("POST", "/uploads", { groupId, name, contentType, size: bytes.length }, who.accessToken);
  assert.equal(up.status, 201, JSON.stringify(up.body));
  assert.equal(await put(up.body, bytes), 200);
  return { key: up.body.key, name, contentType, size: bytes.length };
}

function send(who, groupId, body) {
  return api("POST", `/groups/${groupId}/messages`, { clientMsgId: crypto.randomUUID(), ...body }, who.accessToken);
}

// Where the gateway redirects `who` for `url` (an attachment or thumbnail URL), or its status.
async function redirect(who, url) {
  const r = await fetch(`${BASE}${url}`, { headers: { authorization: `Bearer ${who.accessToken}` }, redirect: "manual" });
  return { status: r.status, location: r.headers.get("location"), body: r.status === 302 ? null : await r.json() };
}

async function eventually(what, check, ms) {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(250);
  }
}

test("an upload within the policy is stored once and signed for exactly its type and size", async () => {
  const { group, people: [ann] } = await crew("ann");
  const bytes = crypto.randomBytes(4096);
  const up = await api("POST", "/uploads", { groupId: group.id, name: "notes.txt", contentType: "text/plain", size: bytes.length }, ann.accessToken);
  assert.equal(up.status, 201, JSON.stringify(up.body));
  assert.match(up.body.key, new RegExp(`^att/${group.id}/[0-9a-f]{32}$`));
  assert.equal(up.body.method, "PUT");
  assert.equal(up.body.headers["content-type"], "text/plain");
  assert.equal(up.body.headers["if-none-match"], "*");
  assert.match(up.body.headers["content-disposition"], /^attachment; filename="notes.txt"/);
  assert.ok(new URL(up.body.url).port !== new URL(BASE).port, "signed URLs point at storage, not the API");
  // Storage itself refuses another type or length: both are signed.
  assert.equal(await put(up.body, bytes, { "content-type": "text/html" }), 403, "wrong type");
  assert.equal(await put(up.body, Buffer.concat([bytes, Buffer.from("x")])), 403, "over size");
  assert.equal(await put(up.body, bytes), 200);
  // Create only: the bytes cannot be changed once written (a message is checked against them).
  assert.equal(await put(up.body, crypto.randomBytes(4096)), 412, "a second upload to the key");
});

test("uploads outside the policy are refused with coded errors", async () => {
  const { group, people: [ann] } = await crew("ann");
  const ask = (b) => api("POST", "/uploads", { groupId: group.id, name: "a.bin", contentType: "application/pdf", size: 10, ...b }, ann.accessToken);
  const big = await ask({ size: UPLOAD_MAX + 1 });
  assert.deepEqual([big.status, big.body.error.code], [413, "FILE_TOO_LARGE"]);
  const empty = await ask({ size: 0 });
  assert.deepEqual([empty.status, empty.body.error.code], [413, "FILE_TOO_LARGE"]);
  const exe = await ask({ contentType: "application/x-msdownload" });
  assert.deepEqual([exe.status, exe.body.error.code], [400, "VALIDATION_ERROR"]);
  const pathy = await ask({ name: "../../etc/passwd" });
  assert.deepEqual([pathy.status, pathy.body.error.code], [400, "VALIDATION_ERROR"]);
  const unknown = await api("POST", "/uploads", { groupId: group.id, name: "a", contentType: "text/plain", size: 1, extra: 1 }, ann.accessToken);
  assert.equal(unknown.status, 400);
});

test("an image message gets its dimensions at once and a thumbnail soon after, told to members", async () => {
  const { group, people: [ann, bob] } = await crew("ann", "bob");
  const bobSocket = await connect(bob.accessToken, "127.0.0.3");
  try {
    const image = png(640, 480);
    const a = await upload(ann, group.id, "café plan.png", "image/png", image);
    const incoming = nextEvent(bobSocket, "chat.message.incoming");
    const edited = nextEvent(bobSocket, "chat.message.edited", 20000);
    const sent = await send(ann, group.id, { type: "image", content: "", attachments: [a] });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const stored = sent.body.attachments[0];
    assert.deepEqual([stored.width, stored.height, stored.size], [640, 480, image.length]);
    assert.equal(stored.url, `/api/v1/attachments/${a.key}`);
    assert.equal(stored.thumbnailUrl, undefined, "the thumbnail is made off the request path");
    assert.equal((await incoming).attachments[0].width, 640);
    const update = await edited;
    assert.equal(update.id, sent.body.id);
    assert.equal(update.editedAt, undefined, "a thumbnail is not an edit");
    const thumbUrl = update.attachments[0].thumbnailUrl;
    assert.match(thumbUrl, /\.thumb\.jpg$/);
    const r = await redirect(bob, thumbUrl);
    assert.equal(r.status, 302);
    const thumb = await fetch(r.location);
    assert.equal(thumb.status, 200);
    assert.equal(thumb.headers.get("content-type"), "image/jpeg");
    const jpeg = Buffer.from(await thumb.arrayBuffer());
    assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
    assert.ok(jpeg.length < image.length, `a thumbnail of ${jpeg.length} bytes`);
    // History carries it too.
    const history = await api("GET", `/groups/${group.id}/messages`, null, bob.accessToken);
    assert.equal(history.body.messages.at(-1).attachments[0].thumbnailUrl, thumbUrl);
  } finally {
    bobSocket.close();
  }
});

test("a member fetches the same bytes through the redirect, under the original file name", async () => {
  const { group, people: [ann, bob] } = await crew("ann", "bob");
  const bytes = crypto.randomBytes(10000);
  const a = await upload(ann, group.id, "résumé 2026.pdf", "application/pdf", bytes);
  const sent = await send(ann, group.id, { type: "file", content: "my cv", attachments: [a] });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
  const r = await redirect(bob, sent.body.attachments[0].url);
  assert.equal(r.status, 302);
  const got = await fetch(r.location);
  assert.equal(got.status, 200);
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(bytes), "the same bytes");
  const disposition = got.headers.get("content-disposition");
  assert.match(disposition, /^attachment;/, "a PDF downloads, it is not shown in place");
  assert.ok(disposition.includes(`filename*=UTF-8''${encodeURIComponent("résumé 2026.pdf")}`), disposition);
});

test("a non-member cannot upload to a group or fetch its attachments, and learns nothing of keys", async () => {
  const { group, people: [ann, bob] } = await crew("ann", "bob");
  const eve = await register(`eve_${suffix()}`);
  const denied = await api("POST", "/uploads", { groupId: group.id, name: "x.txt", contentType: "text/plain", size: 3 }, eve.accessToken);
  assert.deepEqual([denied.status, denied.body.error.code], [403, "NOT_A_MEMBER"]);
  const a = await upload(ann, group.id, "x.txt", "text/plain", Buffer.from("abc"));
  const sent = await send(ann, group.id, { type: "file", content: "x", attachments: [a] });
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
  const real = await redirect(eve, `/api/v1/attachments/${a.key}`);
  const made = await redirect(eve, `/api/v1/attachments/att/${group.id}/${crypto.randomBytes(16).toString("hex")}`);
  const junk = await redirect(eve, "/api/v1/attachments/avatars/whatever");
  for (const r of [real, made, junk]) assert.deepEqual([r.status, r.body.error.code], [404, "NOT_FOUND"]);
  assert.equal(real.body.error.message, made.body.error.message, "the same answer whether or not the key exists");
  // A member removed from the group loses access too.
  assert.equal((await redirect(bob, `/api/v1/attachments/${a.key}`)).status, 302);
  const removed = await api("DELETE", `/groups/${group.id}/members/${bob.user.id}`, null, ann.accessToken);
  assert.equal(removed.status, 204, JSON.stringify(removed.body));
  assert.equal((await redirect(bob, `/api/v1/attachments/${a.key}`)).status, 404);
});

test("a forged, foreign, mismatched, missing or reused attachment is refused with INVALID_MESSAGE", async () => {
  const { group, people: [ann, bob] } = await crew("ann", "bob");
  const { group: other } = await crew("ann2");
  const own = await upload(ann, group.id, "a.txt", "text/plain", Buffer.from("hello"));
  const bobs = await upload(bob, group.id, "b.txt", "text/plain", Buffer.from("bob's"));
  const signedOnly = await api("POST", "/uploads", { groupId: group.id, name: "c.txt", contentType: "text/plain", size: 5 }, ann.accessToken);
  const refusals = {
    forged: { ...own, key: `att/${group.id}/${crypto.randomBytes(16).toString("hex")}` },
    "someone else's": bobs,
    "another group's": { ...own, key: own.key.replace(group.id, other.id) },
    "wrong size": { ...own, size: 6 },
    "wrong type": { ...own, contentType: "text/csv" },
    "never uploaded": { key: signedOnly.body.key, name: "c.txt", contentType: "text/plain", size: 5 },
  };
  for (const [what, attachment] of Object.entries(refusals)) {
    const r = await send(ann, group.id, { type: "file", content: what, attachments: [attachment] });
    assert.deepEqual([what, r.status, r.body.error?.code], [what, 400, "INVALID_MESSAGE"], JSON.stringify(r.body));
  }
  const text = await send(ann, group.id, { type: "text", content: "x", attachments: [own] });
  assert.deepEqual([text.status, text.body.error.code], [400, "INVALID_MESSAGE"]);
  // Used once, it cannot be attached again; a retry of the first send gets the first answer.
  const clientMsgId = crypto.randomUUID();
  const first = await send(ann, group.id, { clientMsgId, type: "file", content: "once", attachments: [own] });
  assert.equal(first.status, 201, JSON.stringify(first.body));
  const again = await send(ann, group.id, { type: "file", content: "twice", attachments: [own] });
  assert.deepEqual([again.status, again.body.error.code], [400, "INVALID_MESSAGE"]);
  const retry = await send(ann, group.id, { clientMsgId, type: "file", content: "once", attachments: [own] });
  assert.deepEqual([retry.status, retry.body.id], [200, first.body.id]);
  // Bytes that are not the image they claim to be.
  const fake = await upload(ann, group.id, "fake.png", "image/png", Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"));
  const lie = await send(ann, group.id, { type: "image", content: "", attachments: [fake] });
  assert.deepEqual([lie.status, lie.body.error.code], [400, "INVALID_MESSAGE"]);
  assert.match(lie.body.error.message, /not a PNG image/);
});

test("a decompression bomb is refused and the pipeline goes on", async () => {
  const { group, people: [ann] } = await crew("ann");
  // Claims 30,000 × 30,000 pixels (900 MB decoded) in a few kilobytes.
  const bomb = png(30000, 30000, { rows: 200, gray: true });
  assert.ok(bomb.length < UPLOAD_MAX, `${bomb.length} bytes`);
  const a = await upload(ann, group.id, "bomb.png", "image/png", bomb);
  const r = await send(ann, group.id, { type: "image", content: "", attachments: [a] });
  assert.deepEqual([r.status, r.body.error.code], [400, "INVALID_MESSAGE"]);
  assert.match(r.body.error.message, /30000×30000/);
  const after = await send(ann, group.id, { content: "still here" });
  assert.equal(after.status, 201, JSON.stringify(after.body));
});

test("a preflight from another origin is answered, and a real browser uploads and downloads", async () => {
  // The browser first: on a busy machine its start has taken seconds, and an upload not yet
  // attached is swept after HUBBUB_E2E_ORPHAN_SECS (8 s here).
  const browser = await launchChromium();
  let up;
  try {
    const { group, people: [ann] } = await crew("ann");
    const bytes = Buffer.from("from a browser");
    up = await api("POST", "/uploads", { groupId: group.id, name: "b.txt", contentType: "text/plain", size: bytes.length }, ann.accessToken);
    assert.equal(up.status, 201);
    const preflight = await fetch(up.body.url, {
      method: "OPTIONS",
      headers: {
        origin: "http://app.example.test",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "content-disposition,content-type,if-none-match",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
    assert.match(preflight.headers.get("access-control-allow-methods"), /PUT/);
    assert.match(preflight.headers.get("access-control-allow-headers"), /content-disposition/);

    const page = await browser.newPage();
    await page.goto(`${BASE}/health`); // an origin of the API's, not of storage's
    const headers = { ...up.body.headers };
    delete headers["content-length"];
    const result = await page.evaluate(
      async ({ url, headers, text, token, key }) => {
        const put = await fetch(url, { method: "PUT", headers, body: text });
        const sent = await fetch(`/api/v1/attachments/${key}`, { headers: { authorization: `Bearer ${token}` } });
        return { put: put.status, get: sent.status, body: await sent.text() };
      },
      { url: up.body.url, headers, text: bytes.toString(), token: ann.accessToken, key: up.body.key },
    );
    assert.deepEqual(result, { put: 200, get: 200, body: bytes.toString() });
  } finally {
    await browser.close();
  }
  // The browser's preflight reached nginx (and was answered there).
  const log = fs.readFileSync(path.join(RUN, "logs", "nginx-access.log"), "utf8");
  assert.ok(log.split("\n").some((l) => l.includes(`"OPTIONS /`) && l.includes(up.body.key) && l.includes('" 204 ')), "a preflight for the key");
});

test("uploads never attached are swept, and a deleted message's objects go with it", async () => {
  const { group, people: [ann] } = await crew("ann");
  const orphan = await upload(ann, group.id, "orphan.txt", "text/plain", Buffer.from("nobody wants me"));
  const kept = await upload(ann, group.id, "kept.txt", "text/plain", Buffer.from("attached"));
  const doomed = await upload(ann, group.id, "doomed.txt", "text/plain", Buffer.from("deleted soon"));
  const sent = await send(ann, group.id, { type: "file", content: "kept", attachments: [kept] });
  const gone = await send(ann, group.id, { type: "file", content: "doomed", attachments: [doomed] });
  assert.deepEqual([sent.status, gone.status], [201, 201]);
  // Signed download URLs made now keep working for minutes: they show what storage still holds.
  const urls = {};
  for (const [name, a] of Object.entries({ orphan, kept, doomed })) {
    const r = await redirect(ann, `/api/v1/attachments/${a.key}`);
    assert.equal(r.status, 302, name);
    urls[name] = r.location;
    assert.equal((await fetch(urls[name])).status, 200, name);
  }
  const deleted = await api("DELETE", `/messages/${gone.body.id}`, null, ann.accessToken);
  assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
  await eventually("the deleted message's object removed", async () => (await fetch(urls.doomed)).status === 404, 10000);
  await eventually("the orphan swept", async () => (await fetch(urls.orphan)).status === 404, (ORPHAN_SECS + 10) * 1000);
  assert.equal((await fetch(urls.kept)).status, 200, "an attached upload is kept");
  assert.equal((await redirect(ann, `/api/v1/attachments/${orphan.key}`)).status, 404);
});

test("a deleted account's avatars are removed from storage", async () => {
  const u = await register(`gone_${suffix()}`);
  const bytes = png(8, 8);
  const up = await api("POST", "/users/me/avatar", { contentType: "image/png", size: bytes.length }, u.accessToken);
  assert.equal(await put(up.body, bytes), 200);
  assert.equal((await api("PATCH", "/users/me", { avatarKey: up.body.key }, u.accessToken)).status, 200);
  const r = await redirect(u, `/api/v1/users/${u.user.id}/avatar`);
  assert.equal(r.status, 302);
  assert.equal((await fetch(r.location)).status, 200);
  assert.equal((await api("DELETE", "/users/me", null, u.accessToken)).status, 204);
  await eventually("the avatar removed", async () => (await fetch(r.location)).status === 404, 15000);
});
