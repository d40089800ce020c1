// The reference for hubbub's load test: a plain Socket.IO 4 server with the Redis adapter, the
// way a Node team would write a chat on it, with hubbub's event names. Broadcast only: no
// persistence, no seq, acknowledged at once. Run several behind nginx (scripts/loadtest.sh
// compare) and the Redis adapter carries broadcasts between them.
//   PORT=4101 REDIS_URL=redis://127.0.0.1:6379 node server.mjs
// The handshake's auth is { token: <user id>, groups: [<group id>, ...] }: no accounts here.
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const port = Number(process.env.PORT ?? 4101);
const pub = createClient({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer((req, res) => {
  res.writeHead(req.url === "/health" ? 200 : 404).end();
});
const io = new Server(http, {
  adapter: createAdapter(pub, sub, { key: process.env.ADAPTER_KEY ?? "hubbub-reference" }),
  maxHttpBufferSize: 64 * 1024,
});

io.use((socket, next) => {
  const { token, groups } = socket.handshake.auth ?? {};
  if (typeof token !== "string" || token === "") return next(new Error("UNAUTHORIZED"));
  socket.data.user = token;
  socket.data.groups = new Set(Array.isArray(groups) ? groups.map(String) : []);
  next();
});

const fail = (ack, code, message) => typeof ack === "function" && ack({ ok: false, error: { code, message } });

io.on("connection", (socket) => {
  socket.join([...socket.data.groups].map((g) => `g:${g}`));
  socket.on("chat.message.send", (p, ack) => {
    if (!p || typeof p.groupId !== "string" || typeof p.content !== "string" || p.content.length === 0) {
      return fail(ack, "INVALID_MESSAGE", "groupId and content are required");
    }
    if (!socket.data.groups.has(p.groupId)) return fail(ack, "NOT_A_MEMBER", "not a member of this group");
    const message = {
      id: randomUUID(),
      groupId: p.groupId,
      senderId: socket.data.user,
      content: p.content,
      type: "text",
      attachments: [],
      clientMsgId: p.clientMsgId,
      createdAt: new Date().toISOString(),
      deleted: false,
    };
    socket.to(`g:${p.groupId}`).emit("chat.message.incoming", message);
    if (typeof ack === "function") ack({ ok: true, message });
  });
  socket.on("chat.typing", (p) => {
    if (p && socket.data.groups.has(p.groupId)) {
      socket.to(`g:${p.groupId}`).emit("chat.typing", { groupId: p.groupId, userId: socket.data.user, isTyping: !!p.isTyping });
    }
  });
  socket.on("chat.message.seen", (p, ack) => {
    if (p && socket.data.groups.has(p.groupId)) {
      socket.to(`g:${p.groupId}`).emit("chat.message.seen", { groupId: p.groupId, userId: socket.data.user, seq: p.seq });
    }
    if (typeof ack === "function") ack({ ok: true });
  });
});

http.listen(port, "127.0.0.1", () => console.log(`reference listening on 127.0.0.1:${port}`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => io.close(() => process.exit(0)));
