// The app's state: the signed-in user's groups, their timelines, sends in flight, receipts,
// typing and presence, kept current by the socket. Components read it through `useChat()` and
// re-render when it changes.

import { useSyncExternalStore } from "react";
import { HubbubApi } from "./api/http";
import { ChatSocket, newClientMsgId } from "./api/socket";
import { Timeline } from "./api/timeline";
import type { Attachment, Group, Member, Message, User } from "./api/types";

export type Tick = "pending" | "failed" | "sent" | "delivered" | "seen";

export interface Pending {
  clientMsgId: string;
  groupId: string;
  content: string;
  files: { name: string; progress: number }[];
  status: "pending" | "failed";
  error?: string;
  createdAt: string;
}

interface Marks {
  delivered: number;
  seen: number;
}

const TYPING_TTL_MS = 6000;

export class ChatStore {
  readonly api = new HubbubApi();
  socket: ChatSocket | null = null;
  version = 0;
  private readonly listeners = new Set<() => void>();

  groups = new Map<string, Group>();
  timelines = new Map<string, Timeline>();
  pending = new Map<string, Pending>();
  members = new Map<string, Member[]>();
  users = new Map<string, User>();
  presence = new Map<string, { online: boolean; lastSeenAt?: string | null }>();
  /** groupId → userId → watermarks of the other members. */
  marks = new Map<string, Map<string, Marks>>();
  /** groupId → userId → when their typing lapses. */
  typing = new Map<string, Map<string, number>>();
  activeGroupId: string | null = null;
  connected = false;
  loaded = false;
  notice: string | null = null;
  private seenSent = new Map<string, number>();
  private generation = 0;
  private offs: (() => void)[] = [];

  subscribe = (l: () => void) => {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  };

  changed() {
    this.version++;
    for (const l of this.listeners) l();
  }

  /** Shows a notice above the conversation. */
  say(notice: string | null) {
    this.notice = notice;
    this.changed();
  }

  get me(): User | undefined {
    return this.api.current?.user;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /** Loads the signed-in user's groups and connects the socket. */
  async start(): Promise<void> {
    const generation = ++this.generation;
    const me = await this.api.me();
    this.users.set(me.id, me);
    let cursor: string | undefined;
    do {
      const page = await this.api.myGroups(cursor);
      for (const g of page.items) this.groups.set(g.id, g);
      cursor = page.nextCursor;
    } while (cursor);
    if (generation !== this.generation) return; // stopped meanwhile
    this.loaded = true;
    this.socket = new ChatSocket(
      this.api,
      () => this.cursors(),
      (r) => this.synced(r.groups, r.messages),
    );
    this.wire(this.socket);
    this.changed();
  }

  stop(): void {
    this.generation++;
    for (const off of this.offs) off();
    this.offs = [];
    this.socket?.close();
    this.socket = null;
    this.groups.clear();
    this.timelines.clear();
    this.pending.clear();
    this.members.clear();
    this.marks.clear();
    this.typing.clear();
    this.activeGroupId = null;
    this.loaded = false;
    this.changed();
  }

  async logout(): Promise<void> {
    this.stop();
    await this.api.logout();
    this.changed();
  }

  private cursors() {
    return [...this.groups.values()].map((g) => ({
      groupId: g.id,
      afterSeq: this.timelines.get(g.id)?.contiguousHead() || g.lastMessage?.seq || 0,
    }));
  }

  private wire(s: ChatSocket) {
    this.offs.push(
      s.onConnected((c) => {
        this.connected = c;
        this.changed();
      }),
      s.on("chat.message.incoming", (m) => this.receive(m, true)),
      s.on("chat.message.edited", (m) => this.receive(m, false)),
      s.on("chat.message.deleted", (d) => {
        if (this.timelines.get(d.groupId)?.markDeleted(d.seq)) this.changed();
      }),
      s.on("chat.message.delivered", (r) => this.mark(r.groupId, r.userId, "delivered", r.seq)),
      s.on("chat.message.seen", (r) => this.mark(r.groupId, r.userId, "seen", r.seq)),
      s.on("chat.typing", (t) => {
        const g = this.typing.get(t.groupId) ?? new Map<string, number>();
        if (t.isTyping) g.set(t.userId, Date.now() + TYPING_TTL_MS);
        else g.delete(t.userId);
        this.typing.set(t.groupId, g);
        this.changed();
        if (t.isTyping) setTimeout(() => this.changed(), TYPING_TTL_MS + 50);
      }),
      s.on("user.presence", (p) => {
        this.presence.set(p.userId, { online: p.online, lastSeenAt: p.lastSeenAt });
        this.changed();
      }),
      s.on("group.created", (g) => this.upsertGroup(g)),
      s.on("group.updated", (g) => this.upsertGroup(g)),
      s.on("group.deleted", (d) => this.dropGroup(d.id)),
      s.on("group.member.added", (d) => {
        if (d.member.userId === this.me?.id && d.group) this.upsertGroup(d.group);
        else this.members.set(d.groupId, [...(this.members.get(d.groupId) ?? []), d.member]);
        this.changed();
      }),
      s.on("group.member.removed", (d) => {
        if (d.userId === this.me?.id) return this.dropGroup(d.groupId);
        this.members.set(d.groupId, (this.members.get(d.groupId) ?? []).filter((m) => m.userId !== d.userId));
        this.changed();
      }),
      s.on("group.member.updated", (d) => {
        this.members.set(
          d.groupId,
          (this.members.get(d.groupId) ?? []).map((m) => (m.userId === d.member.userId ? d.member : m)),
        );
        this.changed();
      }),
    );
  }

  // ---- incoming ----------------------------------------------------------------------------

  private timeline(groupId: string): Timeline {
    let t = this.timelines.get(groupId);
    if (!t) {
      t = new Timeline();
      this.timelines.set(groupId, t);
    }
    return t;
  }

  /** A message from the socket or a sync; repeats change nothing. */
  private receive(m: Message, fresh: boolean) {
    const g = this.groups.get(m.groupId);
    const isNew = !this.timeline(m.groupId).get(m.seq);
    if (!this.timeline(m.groupId).put(m)) return;
    if (m.clientMsgId) this.pending.delete(m.clientMsgId);
    if (g) {
      if (!g.lastMessage || g.lastMessage.seq <= m.seq) g.lastMessage = m;
      if (fresh && isNew && m.senderId !== this.me?.id && !this.isWatching(m.groupId)) {
        g.unreadCount = (g.unreadCount ?? 0) + 1;
      }
    }
    // Whoever typed it has stopped.
    this.typing.get(m.groupId)?.delete(m.senderId);
    if (!this.users.has(m.senderId)) void this.loadUser(m.senderId);
    this.changed();
    if (this.isWatching(m.groupId)) this.seeUpTo(m.groupId);
  }

  private synced(groups: { groupId: string; status: string; headSeq: number; readSeq: number }[], messages: Message[]) {
    for (const s of groups) {
      if (s.status !== "ok") {
        this.dropGroup(s.groupId);
        continue;
      }
      const g = this.groups.get(s.groupId);
      if (g) g.unreadCount = this.isWatching(s.groupId) ? 0 : Math.max(0, s.headSeq - s.readSeq);
    }
    for (const m of messages) this.receive(m, false);
    this.changed();
  }

  private mark(groupId: string, userId: string, kind: keyof Marks, seq: number) {
    const byUser = this.marks.get(groupId) ?? new Map<string, Marks>();
    const m = byUser.get(userId) ?? { delivered: 0, seen: 0 };
    m[kind] = Math.max(m[kind], seq);
    if (kind === "seen") m.delivered = Math.max(m.delivered, seq);
    byUser.set(userId, m);
    this.marks.set(groupId, byUser);
    this.changed();
  }

  private upsertGroup(g: Group) {
    const held = this.groups.get(g.id);
    // Messages can arrive before the event that brings their group: count them in.
    const early = held ? [] : (this.timelines.get(g.id)?.messages() ?? []);
    const unreadEarly = this.isWatching(g.id) ? 0 : early.filter((m) => m.senderId !== this.me?.id).length;
    this.groups.set(g.id, {
      ...held,
      ...g,
      lastMessage: g.lastMessage ?? held?.lastMessage ?? early.at(-1),
      unreadCount: held?.unreadCount ?? g.unreadCount ?? unreadEarly,
    });
    this.changed();
  }

  private dropGroup(id: string) {
    this.groups.delete(id);
    this.timelines.delete(id);
    if (this.activeGroupId === id) {
      this.activeGroupId = null;
      this.notice = "That conversation is no longer available.";
    }
    this.changed();
  }

  private async loadUser(id: string) {
    this.users.set(id, { id, username: "…", displayName: "…", createdAt: "" });
    try {
      this.users.set(id, await this.api.user(id));
    } catch {
      this.users.set(id, { id, username: "deleted", displayName: "Deleted user", createdAt: "" });
    }
    this.changed();
  }

  // ---- what the user does ------------------------------------------------------------------

  /** Whether the user is looking at the group now (open, in a visible, focused tab). */
  isWatching(groupId: string): boolean {
    return this.activeGroupId === groupId && document.visibilityState === "visible";
  }

  async open(groupId: string | null): Promise<void> {
    this.activeGroupId = groupId;
    if (groupId) this.notice = null;
    this.changed();
    if (!groupId) return;
    const t = this.timeline(groupId);
    if (t.size === 0) await this.loadOlder(groupId);
    await this.ensureMembers(groupId);
    this.seeUpTo(groupId);
    this.changed();
  }

  private membersLoading = new Set<string>();

  /** Loads a group's members once (with their names and presence). */
  async ensureMembers(groupId: string): Promise<void> {
    if (this.members.has(groupId) || this.membersLoading.has(groupId)) return;
    this.membersLoading.add(groupId);
    try {
      const page = await this.api.members(groupId);
      this.members.set(groupId, page.items);
      for (const m of page.items) {
        if (!this.users.has(m.userId)) void this.loadUser(m.userId);
        if (m.userId !== this.me?.id && !this.presence.has(m.userId)) void this.loadPresence(m.userId);
      }
      this.changed();
    } catch {
      // shown as a group without member details
    } finally {
      this.membersLoading.delete(groupId);
    }
  }

  private async loadPresence(userId: string) {
    try {
      this.presence.set(userId, await this.api.presence(userId));
      this.changed();
    } catch {
      // unknown presence shows as none
    }
  }

  /** The page of history before the oldest held message. */
  async loadOlder(groupId: string): Promise<void> {
    const t = this.timeline(groupId);
    if (!t.olderExist) return;
    const page = await this.api.history(groupId, t.oldest, 50);
    for (const m of page.messages) t.put(m);
    if (!page.more) t.olderExist = false;
    for (const m of page.messages) if (!this.users.has(m.senderId)) void this.loadUser(m.senderId);
    this.changed();
  }

  /** Marks everything up to the newest held message as seen (once per seq). */
  seeUpTo(groupId: string) {
    const newest = this.timelines.get(groupId)?.newest ?? 0;
    const g = this.groups.get(groupId);
    if (g) g.unreadCount = 0;
    if (newest === 0 || (this.seenSent.get(groupId) ?? 0) >= newest || !this.socket?.connected) return;
    this.seenSent.set(groupId, newest);
    this.socket.markSeen(groupId, newest).catch(() => this.seenSent.delete(groupId));
  }

  /** Sends text and files: shown at once as pending, then sent (with its seq) once durable. */
  async send(groupId: string, content: string, files: File[] = []): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    const clientMsgId = newClientMsgId();
    const p: Pending = {
      clientMsgId,
      groupId,
      content,
      files: files.map((f) => ({ name: f.name, progress: 0 })),
      status: "pending",
      createdAt: new Date().toISOString(),
    };
    this.pending.set(clientMsgId, p);
    this.changed();
    try {
      const attachments: Attachment[] = [];
      for (const [i, f] of files.entries()) {
        attachments.push(
          await this.api.upload(groupId, f, (x) => {
            const file = p.files[i];
            if (file) file.progress = x;
            this.changed();
          }),
        );
      }
      const type = files.length === 0 ? "text" : files.every((f) => f.type.startsWith("image/")) ? "image" : "file";
      const message = await socket.send({ groupId, content, type, attachments, clientMsgId });
      this.pending.delete(clientMsgId);
      this.receive(message, false);
      const g = this.groups.get(groupId);
      if (g) g.lastMessage = message;
      this.seenSent.set(groupId, Math.max(this.seenSent.get(groupId) ?? 0, message.seq));
    } catch (e) {
      p.status = "failed";
      p.error = e instanceof Error ? e.message : String(e);
    }
    this.changed();
  }

  async edit(message: Message, content: string): Promise<void> {
    const r = await this.socket?.edit(message.id, content);
    if (r) this.receive(r.message, false);
  }

  async remove(message: Message): Promise<void> {
    await this.socket?.remove(message.id);
    if (this.timelines.get(message.groupId)?.markDeleted(message.seq)) this.changed();
  }

  private lastTyping = 0;
  typingNow(groupId: string, isTyping: boolean) {
    const now = Date.now();
    if (isTyping && now - this.lastTyping < 2000) return;
    this.lastTyping = isTyping ? now : 0;
    this.socket?.typing(groupId, isTyping);
  }

  /** A group the server answered with, shown at once. */
  private async adopt(answer: Promise<Group>): Promise<Group> {
    const g = await answer;
    this.upsertGroup(g);
    return g;
  }

  createGroup(name: string, kind: "group" | "room", visibility: "public" | "private"): Promise<Group> {
    return this.adopt(this.api.createGroup({ name, kind, visibility }));
  }

  directWith(userId: string): Promise<Group> {
    return this.adopt(this.api.direct(userId));
  }

  join(groupId: string): Promise<Group> {
    return this.adopt(this.api.join(groupId));
  }

  acceptInvite(code: string): Promise<Group> {
    return this.adopt(this.api.acceptInvite(code));
  }

  async leave(groupId: string): Promise<void> {
    const me = this.me;
    if (!me) return;
    await this.api.leave(groupId, me.id);
    this.dropGroup(groupId);
  }

  // ---- derived -----------------------------------------------------------------------------

  /** Groups, most recent activity first. */
  sortedGroups(): Group[] {
    const at = (g: Group) => g.lastMessage?.createdAt ?? g.createdAt;
    return [...this.groups.values()].sort((a, b) => at(b).localeCompare(at(a)));
  }

  /** The name to show for a group: a direct chat is named for the other person. */
  title(g: Group): string {
    if (g.kind !== "direct") return g.name;
    const other = this.otherMember(g);
    return (other && this.users.get(other)?.displayName) || "Direct chat";
  }

  otherMember(g: Group): string | undefined {
    return this.members.get(g.id)?.find((m) => m.userId !== this.me?.id)?.userId;
  }

  typists(groupId: string): string[] {
    const now = Date.now();
    return [...(this.typing.get(groupId) ?? new Map<string, number>())]
      .filter(([u, until]) => until > now && u !== this.me?.id)
      .map(([u]) => this.users.get(u)?.displayName ?? "Someone");
  }

  /** The tick of one of my messages: seen or delivered once every other member has it. */
  tick(m: Message): Tick {
    const others = (this.members.get(m.groupId) ?? []).filter((x) => x.userId !== this.me?.id);
    const marks = this.marks.get(m.groupId);
    if (others.length === 0 || !marks) return "sent";
    const all = (kind: keyof Marks) => others.every((o) => (marks.get(o.userId)?.[kind] ?? 0) >= m.seq);
    if (all("seen")) return "seen";
    if (all("delivered")) return "delivered";
    return "sent";
  }

  pendingOf(groupId: string): Pending[] {
    return [...this.pending.values()].filter((p) => p.groupId === groupId);
  }
}

export const store = new ChatStore();

/** Re-renders the calling component whenever the store changes. */
export function useChat(): ChatStore {
  useSyncExternalStore(store.subscribe, () => store.version);
  return store;
}
