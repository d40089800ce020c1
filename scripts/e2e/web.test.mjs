// The web client (web/) in Debian's Chromium, driven by playwright-core: two people in two
// browser contexts, each pinned to a different chat node through nginx's node ports, sign up
// and in, chat, see typing, seen ticks and an image with its preview, keep their session over
// a reload, and get what they missed while offline. No console errors are allowed. With
// HUBBUB_SCREENSHOTS=<dir> it also saves the main screens at desktop and phone width.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BASE, PASSWORD, api, loginAdmin, launchChromium, png, register, suffix } from "./lib.mjs";

// nginx's port with Socket.IO pinned to chat node n (scripts/stack.sh).
const nodeUrl = (n) => {
  const u = new URL(BASE);
  u.port = String(Number(u.port) + 10 + n);
  return u.origin;
};
const SHOTS = process.env.HUBBUB_SCREENSHOTS;

// Console errors and uncaught exceptions of a page, except the browser's own network errors
// while the test holds it offline.
function watch(page, label, errors, offline) {
  page.on("pageerror", (e) => errors.push(`${label}: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (offline.has(label) && /ERR_INTERNET_DISCONNECTED|WebSocket|ERR_NETWORK_CHANGED|net::/.test(m.text())) return;
    errors.push(`${label}: ${m.text()}`);
  });
}

async function nodesOf(userId) {
  const admin = await loginAdmin();
  const r = await api("GET", `/admin/connections?userId=${userId}`, null, admin.body.accessToken);
  return r.body.connections.map((c) => c.node);
}

async function until(what, check, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("two people chat in the web client across two chat nodes: typing, ticks, an image, a reload and a spell offline", async (t) => {
  const s = suffix();
  const bob = await register(`webbob_${s}`);
  const browser = await launchChromium();
  t.after(() => browser.close());
  const errors = [];
  const offline = new Set();
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const a = await ctxA.newPage();
  const b = await ctxB.newPage();
  watch(a, "alice", errors, offline);
  watch(b, "bob", errors, offline);

  // Alice signs up in the app, on chat node 1.
  await a.goto(nodeUrl(1));
  if (SHOTS) await a.screenshot({ path: path.join(SHOTS, "sign-in-desktop.png") });
  await a.getByRole("tab", { name: "Create account" }).click();
  const alice = `webalice_${s}`;
  await a.getByLabel("Username", { exact: true }).fill(alice);
  await a.getByLabel("Email").fill(`${alice}@example.test`);
  await a.getByLabel("Display name").fill("Alice");
  await a.getByLabel("Password").fill(PASSWORD);
  await a.getByRole("button", { name: "Create account" }).last().click();
  await a.getByRole("button", { name: "Sign out" }).waitFor();

  // Bob signs in, on chat node 2.
  await b.goto(nodeUrl(2));
  await b.getByLabel("Username or email").fill(bob.user.username);
  await b.getByLabel("Password").fill(PASSWORD);
  await b.getByRole("button", { name: "Sign in" }).last().click();
  await b.getByRole("button", { name: "Sign out" }).waitFor();

  // Alice starts a direct chat with Bob, found by name, and says hello with Enter.
  await a.getByRole("button", { name: "Direct chat" }).click();
  await a.getByLabel("Find someone by name").fill(bob.user.username);
  await a.getByRole("button", { name: new RegExp(bob.user.username) }).click();
  const composerA = a.getByLabel("Message", { exact: true });
  await composerA.fill("hello bob");
  await composerA.press("Enter");
  const mineA = a.locator("article.msg.mine").filter({ hasText: "hello bob" });
  await mineA.locator("[data-tick]").waitFor();
  const aliceId = await a.evaluate(() => JSON.parse(localStorage.getItem("hubbub.session")).user.id);
  assert.deepEqual([...new Set(await nodesOf(aliceId))], ["chat-1"]);
  assert.deepEqual([...new Set(await nodesOf(bob.user.id))], ["chat-2"]);

  // Bob sees the conversation arrive with an unread badge, opens it, and Alice's tick turns to seen.
  const item = b.getByRole("button", { name: /Alice/ });
  await item.getByLabel("1 unread").waitFor();
  await item.click();
  await b.locator("article.msg").filter({ hasText: "hello bob" }).waitFor();
  await mineA.locator('[data-tick="seen"]').waitFor();

  // Bob types: Alice sees it, and stops seeing it when he sends.
  const composerB = b.getByLabel("Message", { exact: true });
  await composerB.fill("hi al");
  await a.getByTestId("subtitle").filter({ hasText: "typing" }).waitFor();
  await composerB.fill("hi alice!");
  await composerB.press("Enter");
  await a.locator("article.msg").filter({ hasText: "hi alice!" }).waitFor();
  await a.getByTestId("subtitle").filter({ hasNotText: "typing" }).waitFor();
  // Presence: Bob is online for Alice.
  await a.locator('.conv-head [data-testid="presence"][data-online="true"]').waitFor();

  // Alice sends an image: Bob sees it, then its preview once made.
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hubbub-web-")), "sunset.png");
  fs.writeFileSync(file, png(800, 600));
  await a.locator('input[type="file"]').setInputFiles(file);
  await composerA.fill("look at this");
  await composerA.press("Enter");
  await b.locator('img[alt="sunset.png"][data-thumbnail="yes"]').waitFor({ timeout: 20000 });
  await a.locator("article.msg.mine").filter({ hasText: "look at this" }).locator("[data-tick]").waitFor();
  if (SHOTS) {
    await a.screenshot({ path: path.join(SHOTS, "conversation-desktop.png") });
  }

  // A reload keeps Bob signed in and in the conversation.
  await b.reload();
  await b.locator("article.msg").filter({ hasText: "hello bob" }).waitFor();
  assert.equal(await b.getByRole("tab", { name: "Sign in" }).count(), 0, "still signed in");

  // Bob goes offline (the laptop sleeps); Alice sends two; back online, Bob has both, once each.
  offline.add("bob");
  await ctxB.setOffline(true);
  await b.getByRole("status").filter({ hasText: "Reconnecting" }).waitFor({ timeout: 40000 });
  for (const text of ["while you slept 1", "while you slept 2"]) {
    await composerA.fill(text);
    await composerA.press("Enter");
    await a.locator("article.msg.mine").filter({ hasText: text }).locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="seen"]').waitFor();
  }
  await ctxB.setOffline(false);
  await b.locator("article.msg").filter({ hasText: "while you slept 2" }).waitFor({ timeout: 30000 });
  offline.delete("bob");
  for (const text of ["hello bob", "while you slept 1", "while you slept 2"]) {
    assert.equal(await b.locator("article.msg").filter({ hasText: text }).count(), 1, `${text} shown once`);
  }
  const seqs = await b.locator("article.msg").evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), "in seq order");
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), "no gaps");

  // Phone width: the list, then one conversation with a way back.
  if (SHOTS) {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const p = await phone.newPage();
    watch(p, "phone", errors, offline);
    await p.goto(nodeUrl(3));
    await p.evaluate((session) => localStorage.setItem("hubbub.session", session), await b.evaluate(() => localStorage.getItem("hubbub.session")));
    await p.reload();
    await p.getByRole("button", { name: /Alice/ }).waitFor();
    await p.screenshot({ path: path.join(SHOTS, "conversations-phone.png") });
    await p.getByRole("button", { name: /Alice/ }).click();
    await p.locator('img[alt="sunset.png"]').waitFor();
    await p.screenshot({ path: path.join(SHOTS, "conversation-phone.png") });
    await phone.close();
  }

  // Signing out ends the session: back to the sign-in screen.
  await a.getByRole("button", { name: "Sign out" }).click();
  await a.getByRole("tab", { name: "Sign in" }).waitFor();
  assert.deepEqual(errors, [], "no console errors");
});

// The message whose text is exactly `text`.
const message = (page, text) => page.locator("article.msg").filter({ has: page.locator("p.content", { hasText: new RegExp(`^${text}$`) }) });

// Signs a page in with a session made through the API (the sign-in form is tested above).
async function signedIn(browser, origin, who) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await ctx.newPage();
  await page.goto(origin);
  const session = { accessToken: who.accessToken, refreshToken: who.refreshToken, user: who.user, role: who.role };
  await page.evaluate((s) => localStorage.setItem("hubbub.session", JSON.stringify(s)), session);
  await page.reload();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  return { ctx, page };
}

test("a group in the web client: an invite link, older pages as you scroll up, edits and deletes seen by the others", async (t) => {
  const s = suffix();
  const carol = await register(`webcarol_${s}`);
  const dave = await register(`webdave_${s}`);
  const browser = await launchChromium();
  t.after(() => browser.close());
  const errors = [];
  const c = await signedIn(browser, nodeUrl(1), carol);
  const d = await signedIn(browser, nodeUrl(2), dave);
  watch(c.page, "carol", errors, new Set());
  watch(d.page, "dave", errors, new Set());
  c.page.on("dialog", (dialog) => void dialog.accept());

  // Carol makes a group in the app and fills it with more than a page of history.
  await c.page.getByRole("button", { name: "New group" }).click();
  await c.page.getByLabel("Name").fill(`web team ${s}`);
  await c.page.getByRole("button", { name: "Create" }).click();
  await c.page.getByRole("heading", { name: `web team ${s}` }).waitFor();
  const groupId = decodeURIComponent(new URL(c.page.url()).hash.split("/")[2]);
  for (let i = 1; i <= 52; i++) {
    const r = await api("POST", `/groups/${groupId}/messages`, { content: `seed ${i}`, clientMsgId: `seed-${s}-${i}` }, carol.accessToken);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  await message(c.page, "seed 52").waitFor();

  // She invites Dave with a link; he opens it and is in.
  await c.page.getByRole("button", { name: "Invite" }).click();
  const link = await c.page.getByLabel("Link to share").inputValue();
  assert.match(link, /#\/invite\//);
  await c.page.getByRole("button", { name: "Close" }).click();
  await d.page.goto(link.replace(new URL(link).origin, nodeUrl(2)));
  await d.page.getByRole("heading", { name: `web team ${s}` }).waitFor();
  await message(d.page, "seed 52").waitFor();
  assert.equal(await message(d.page, "seed 1").count(), 0, "the first page is the newest 50");

  // Scrolling up loads the older page, down to the start.
  await d.page.getByRole("log", { name: "Messages" }).evaluate((el) => (el.scrollTop = 0));
  await d.page.getByText("This is the start of the conversation.").waitFor();
  await message(d.page, "seed 1").waitFor();
  const seqs = await d.page.locator("article.msg").evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, Array.from({ length: 52 }, (_, i) => i + 1), "every message once, in order");

  // Carol edits one message and deletes another; Dave sees both.
  const last = message(c.page, "seed 52");
  await last.hover();
  await last.getByRole("button", { name: "Edit" }).click();
  await c.page.getByLabel("Edit message").fill("seed 52, edited");
  await c.page.getByLabel("Edit message").press("Enter");
  const edited = d.page.locator("article.msg").filter({ hasText: "seed 52, edited" });
  await edited.waitFor();
  assert.match(await edited.innerText(), /edited ·/);
  const doomed = message(c.page, "seed 51");
  await doomed.hover();
  await doomed.getByRole("button", { name: "Delete" }).click();
  await d.page.locator('article.msg[data-seq="51"]').filter({ hasText: "Message deleted" }).waitFor();
  assert.deepEqual(errors, [], "no console errors");
});
