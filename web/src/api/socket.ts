// hubbub's Socket.IO side, typed: acknowledgements with a timeout, sends that survive a
// reconnect (the same clientMsgId is sent again until acknowledged; the server never makes a
// second message of it), a refreshed token on reconnect, and `chat.sync` after every
// (re)connect so nothing sent while the client was away is missed. Pair it with
// timeline.ts, which drops the repeats that at-least-once delivery brings.

import { io, type Socket } from "socket.io-client";
import type { HubbubApi } from "./http";
import type { Ack, Attachment, Message, MessageType, ServerEvents, SyncGroup } from "./types";

type ClientEvents = Record<string, (payload: unknown, ack: (r: unknown) => void) => void>;

export interface SendRequest {
  groupId: string;
  content: string;
  type?: MessageType;
  attachments?: Attachment[];
  /** Your id for this message; made for you if absent. Keep it to retry. */
  clientMsgId?: string;
}

export interface SyncResult {
  groups: SyncGroup[];
  messages: Message[];
}

export class AckFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "AckFailure";
  }
}

/** A fresh clientMsgId (`crypto.randomUUID` exists only in secure contexts; this works in any). */
export function newClientMsgId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Errors worth sending again (the same clientMsgId makes it safe). */
const RETRYABLE = new Set(["TIMEOUT", "SERVER_ERROR", "RATE_LIMIT_EXCEEDED", "DISCONNECTED"]);

export class ChatSocket {
  readonly socket: Socket<ServerEvents, ClientEvents>;
  private readonly connectedListeners = new Set<(connected: boolean) => void>();

  /**
   * @param cursors the last seq the client holds of each group it shows (called after each
   *                connect, for `chat.sync`)
   * @param onSynced receives everything missed, page by page
   */
  constructor(
    api: HubbubApi,
    private readonly cursors: () => { groupId: string; afterSeq: number }[],
    private readonly onSynced: (r: SyncResult) => void,
    base = "",
  ) {
    this.socket = io(base, {
      path: "/socket.io/",
      // Read at every (re)connect, so a refreshed token is used.
      auth: (cb) => cb({ token: api.current?.accessToken ?? "" }),
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    this.socket.on("connect", () => {
      this.emitConnected(true);
      void this.syncAll();
    });
    this.socket.on("disconnect", (reason) => {
      this.emitConnected(false);
      // The server let go of us on purpose (a drain, or an admin): come back, elsewhere.
      if (reason === "io server disconnect") setTimeout(() => this.socket.connect(), 500 + Math.random() * 1000);
    });
    this.socket.on("connect_error", (err) => {
      if (err.message !== "UNAUTHORIZED") return; // the client retries by itself
      void api.refresh().then((s) => s && this.socket.connect());
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  onConnected(listener: (connected: boolean) => void): () => void {
    this.connectedListeners.add(listener);
    return () => this.connectedListeners.delete(listener);
  }

  private emitConnected(c: boolean) {
    for (const l of this.connectedListeners) l(c);
  }

  on<E extends keyof ServerEvents>(event: E, handler: ServerEvents[E]): () => void {
    // socket.io-client's typings want the exact listener type of the event.
    const s = this.socket as unknown as { on(e: string, h: unknown): void; off(e: string, h: unknown): void };
    s.on(event, handler);
    return () => s.off(event, handler);
  }

  /** Emits `event` and waits for its acknowledgement; a refusal rejects with AckFailure. */
  async request<T extends object>(event: string, payload: unknown, timeoutMs = 15000): Promise<T> {
    if (!this.socket.connected) throw new AckFailure("DISCONNECTED", "not connected");
    let ack: Ack<T>;
    try {
      ack = (await this.socket.timeout(timeoutMs).emitWithAck(event, payload)) as Ack<T>;
    } catch {
      throw new AckFailure("TIMEOUT", `${event}: no answer within ${timeoutMs} ms`);
    }
    if (!ack.ok) throw new AckFailure(ack.error.code, ack.error.message, ack.error.retryAfterMs);
    return ack;
  }

  /**
   * Sends a message and resolves once it is durable. Retried with the same clientMsgId while the
   * failure is transient (no connection, no answer, a limit), for up to `giveUpMs`.
   */
  async send(req: SendRequest, giveUpMs = 60000): Promise<Message> {
    const payload = { ...req, clientMsgId: req.clientMsgId ?? newClientMsgId() };
    const until = Date.now() + giveUpMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.untilConnected(until - Date.now());
        const { message } = await this.request<{ message: Message }>("chat.message.send", payload);
        return message;
      } catch (e) {
        const code = e instanceof AckFailure ? e.code : "TIMEOUT";
        if (!RETRYABLE.has(code) || Date.now() >= until) throw e;
        const wait = e instanceof AckFailure && e.retryAfterMs ? e.retryAfterMs : Math.min(250 * 2 ** attempt, 4000);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private untilConnected(ms: number): Promise<void> {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new AckFailure("DISCONNECTED", "not connected"));
      }, Math.max(ms, 0));
      const off = this.onConnected((c) => {
        if (!c) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  /** `chat.sync` for every group the client shows, page after page until nothing is missing. */
  async syncAll(): Promise<void> {
    let cursors = this.cursors();
    for (let round = 0; cursors.length > 0 && round < 50; round++) {
      let r: { groups: SyncGroup[]; messages: Message[]; more: boolean };
      try {
        r = await this.request("chat.sync", { groups: cursors });
      } catch {
        return; // the next connect syncs again
      }
      this.onSynced({ groups: r.groups, messages: r.messages });
      if (!r.more) return;
      // Go on from the newest seq each group received.
      const next = new Map(cursors.map((c) => [c.groupId, c.afterSeq]));
      for (const m of r.messages) next.set(m.groupId, Math.max(next.get(m.groupId) ?? 0, m.seq));
      const ok = new Set(r.groups.filter((g) => g.status === "ok").map((g) => g.groupId));
      cursors = [...next].filter(([g]) => ok.has(g)).map(([groupId, afterSeq]) => ({ groupId, afterSeq }));
    }
  }

  markSeen(groupId: string, seq: number): Promise<object> {
    return this.request("chat.message.seen", { groupId, seq });
  }

  typing(groupId: string, isTyping: boolean): void {
    if (this.socket.connected) this.socket.emit("chat.typing", { groupId, isTyping }, () => undefined);
  }

  edit(messageId: string, content: string): Promise<{ message: Message }> {
    return this.request("chat.message.edit", { messageId, content });
  }

  remove(messageId: string): Promise<{ message: Message }> {
    return this.request("chat.message.delete", { messageId });
  }

  close(): void {
    this.socket.removeAllListeners();
    this.socket.close();
  }
}
