// Avatars go straight to S3-compatible storage with a presigned PUT whose content type and
// size are part of the signature; the profile adopts an uploaded object; the avatar URL
// redirects to a short-lived presigned GET.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { api, register, suffix, BASE } from "./lib.mjs";

async function put(upload, body, overrides = {}) {
  const headers = { ...upload.headers, ...overrides };
  delete headers["content-length"]; // fetch sets it from the body
  const res = await fetch(upload.url, { method: "PUT", headers, body });
  return res.status;
}

test("an avatar is uploaded with a presigned PUT that enforces its type and size", async () => {
  const u = await register(`av_${suffix()}`);
  const png = crypto.randomBytes(2048);
  const up = await api("POST", "/users/me/avatar", { contentType: "image/png", size: png.length }, u.accessToken);
  assert.equal(up.status, 200, JSON.stringify(up.body));
  assert.equal(up.body.method, "PUT");
  assert.match(up.body.key, new RegExp(`^avatars/${u.user.id}/[0-9a-f]{32}\\.png$`));
  assert.match(up.body.expiresAt, /Z$/);

  const early = await api("PATCH", "/users/me", { avatarKey: up.body.key }, u.accessToken);
  assert.deepEqual([early.status, early.body.error.code], [422, "AVATAR_NOT_UPLOADED"]);

  assert.equal(await put(up.body, png, { "content-type": "text/html" }), 403, "another content type is refused");
  assert.equal(await put(up.body, Buffer.concat([png, Buffer.from("x")])), 403, "another size is refused");
  assert.equal(await put(up.body, png), 200);

  const adopted = await api("PATCH", "/users/me", { avatarKey: up.body.key }, u.accessToken);
  assert.equal(adopted.status, 200, JSON.stringify(adopted.body));
  assert.equal(adopted.body.avatarUrl, `/api/v1/users/${u.user.id}/avatar`);
  assert.ok(!("avatarKey" in adopted.body));

  const redirect = await fetch(`${BASE}${adopted.body.avatarUrl}`, {
    headers: { authorization: `Bearer ${u.accessToken}` },
    redirect: "manual",
  });
  assert.equal(redirect.status, 302);
  const image = await fetch(redirect.headers.get("location"));
  assert.equal(image.status, 200);
  assert.deepEqual(Buffer.from(await image.arrayBuffer()), png);

  const cleared = await api("PATCH", "/users/me", { avatarKey: "" }, u.accessToken);
  assert.equal(cleared.body.avatarUrl, undefined);
});

test("avatar uploads outside the policy, or someone else's object, are refused", async () => {
  const u = await register(`av_${suffix()}`);
  const html = await api("POST", "/users/me/avatar", { contentType: "text/html", size: 10 }, u.accessToken);
  assert.deepEqual([html.status, html.body.error.code], [400, "VALIDATION_ERROR"]);
  const huge = await api("POST", "/users/me/avatar", { contentType: "image/png", size: 50 * 1024 * 1024 }, u.accessToken);
  assert.deepEqual([huge.status, huge.body.error.code], [413, "FILE_TOO_LARGE"]);
  const empty = await api("POST", "/users/me/avatar", { contentType: "image/png", size: 0 }, u.accessToken);
  assert.equal(empty.status, 413);

  // Mallory uploads an avatar; Uma may not adopt Mallory's object.
  const mallory = await register(`mal_${suffix()}`);
  const bytes = crypto.randomBytes(16);
  const up = await api("POST", "/users/me/avatar", { contentType: "image/gif", size: bytes.length }, mallory.accessToken);
  assert.equal(await put(up.body, bytes), 200);
  const stolen = await api("PATCH", "/users/me", { avatarKey: up.body.key }, u.accessToken);
  assert.deepEqual([stolen.status, stolen.body.error.code], [400, "VALIDATION_ERROR"]);
  const none = await fetch(`${BASE}/api/v1/users/${u.user.id}/avatar`, {
    headers: { authorization: `Bearer ${u.accessToken}` },
    redirect: "manual",
  });
  assert.equal(none.status, 404);
});
