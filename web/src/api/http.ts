// hubbub's HTTP API, typed. A session (access + refresh token) is kept in `storage`; a request
// answered 401 refreshes the session once (one refresh at a time, however many requests wait
// for it) and is sent again. Copy this file and types.ts into your own frontend as they are.

import { ApiError } from "./types";
import type { Group, Invite, Member, Message, Tokens, Upload, User } from "./types";

export interface Session {
  accessToken: string;
  refreshToken: string;
  user: User;
  role: "admin" | "user";
}

/** Where the session lives between page loads. */
export interface SessionStore {
  load(): Session | null;
  save(session: Session | null): void;
}

export const localSessionStore = (key = "hubbub.session"): SessionStore => ({
  load() {
    try {
      const raw = localStorage.getItem(key);
      return raw ? (JSON.parse(raw) as Session) : null;
    } catch {
      return null;
    }
  },
  save(session) {
    if (session) localStorage.setItem(key, JSON.stringify(session));
    else localStorage.removeItem(key);
  },
});

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

type Query = Record<string, string | number | undefined>;

export class HubbubApi {
  private session: Session | null;
  private refreshing: Promise<Session | null> | null = null;
  private readonly listeners = new Set<(s: Session | null) => void>();

  constructor(
    private readonly base = "",
    private readonly store: SessionStore = localSessionStore(),
  ) {
    this.session = store.load();
  }

  get current(): Session | null {
    return this.session;
  }

  /** Called whenever the session changes (signed in, refreshed, signed out). */
  onSession(listener: (s: Session | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setSession(session: Session | null) {
    this.session = session;
    this.store.save(session);
    for (const l of this.listeners) l(session);
  }

  private adopt(t: Tokens, user?: User): Session {
    const s: Session = {
      accessToken: t.accessToken,
      refreshToken: t.refreshToken,
      user: t.user ?? user ?? this.session?.user ?? ({} as User),
      role: t.role,
    };
    this.setSession(s);
    return s;
  }

  // ---- plumbing ----------------------------------------------------------------------------

  private async send(method: string, path: string, body: unknown, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    return fetch(`${this.base}/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
  }

  private static async fail(r: Response): Promise<never> {
    let code = `HTTP_${r.status}`;
    let message = r.statusText;
    let requestId: string | undefined;
    try {
      const b = (await r.json()) as { error?: { code: string; message: string; requestId?: string } };
      if (b.error) ({ code, message, requestId } = b.error);
    } catch {
      // not JSON: keep the status
    }
    const retry = Number(r.headers.get("retry-after") ?? NaN);
    throw new ApiError(r.status, code, message, requestId, Number.isFinite(retry) ? retry : undefined);
  }

  /** A request as the signed-in user, refreshing the session once on 401. */
  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const qs = query
      ? "?" +
        Object.entries(query)
          .filter(([, v]) => v !== undefined && v !== "")
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
          .join("&")
      : "";
    let r = await this.send(method, path + qs, body, this.session?.accessToken ?? null);
    if (r.status === 401 && this.session) {
      const renewed = await this.refresh();
      if (renewed) r = await this.send(method, path + qs, body, renewed.accessToken);
    }
    if (!r.ok) return HubbubApi.fail(r);
    if (r.status === 204) return undefined as T;
    return (await r.json()) as T;
  }

  private async anonymous<T>(path: string, body: unknown): Promise<T> {
    const r = await this.send("POST", path, body, null);
    if (!r.ok) return HubbubApi.fail(r);
    return (r.status === 204 ? undefined : await r.json()) as T;
  }

  /**
   * A new pair for the session's refresh token (it is spent). One refresh runs at a time; a
   * refused refresh ends the session. Resolves to the new session, or null.
   */
  refresh(): Promise<Session | null> {
    const s = this.session;
    if (!s) return Promise.resolve(null);
    this.refreshing ??= this.anonymous<Tokens>("/auth/refresh", { refreshToken: s.refreshToken })
      .then((t) => this.adopt(t, s.user))
      .catch((e: unknown) => {
        // Another tab may have refreshed first: take its session if it left one.
        const stored = this.store.load();
        if (stored && stored.refreshToken !== s.refreshToken) {
          this.session = stored;
          return stored;
        }
        if (e instanceof ApiError && e.status < 500) this.setSession(null);
        return null;
      })
      .finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  // ---- auth --------------------------------------------------------------------------------

  async register(username: string, email: string, password: string, displayName?: string): Promise<Session> {
    return this.adopt(await this.anonymous<Tokens>("/auth/register", { username, email, password, displayName }));
  }

  async login(login: string, password: string): Promise<Session> {
    return this.adopt(await this.anonymous<Tokens>("/auth/login", { login, password }));
  }

  async logout(): Promise<void> {
    const s = this.session;
    this.setSession(null);
    if (s) await this.anonymous("/auth/logout", { refreshToken: s.refreshToken }).catch(() => undefined);
  }

  // ---- users -------------------------------------------------------------------------------

  async me(): Promise<User> {
    const user = await this.request<User>("GET", "/users/me");
    if (this.session) this.setSession({ ...this.session, user });
    return user;
  }

  user(id: string): Promise<User> {
    return this.request("GET", `/users/${encodeURIComponent(id)}`);
  }

  presence(id: string): Promise<{ online: boolean; lastSeenAt?: string }> {
    return this.request("GET", `/users/${encodeURIComponent(id)}/presence`);
  }

  async searchUsers(q: string, cursor?: string): Promise<Page<User>> {
    const r = await this.request<{ users: User[]; nextCursor?: string }>("GET", "/users", undefined, { q, cursor });
    return { items: r.users, nextCursor: r.nextCursor };
  }

  // ---- groups ------------------------------------------------------------------------------

  async myGroups(cursor?: string): Promise<Page<Group>> {
    const r = await this.request<{ groups: Group[]; nextCursor?: string }>("GET", "/groups", undefined, { cursor });
    return { items: r.groups, nextCursor: r.nextCursor };
  }

  async publicGroups(q: string, cursor?: string): Promise<Page<Group>> {
    const r = await this.request<{ groups: Group[]; nextCursor?: string }>("GET", "/groups/public", undefined, {
      q,
      cursor,
    });
    return { items: r.groups, nextCursor: r.nextCursor };
  }

  createGroup(g: { name: string; description?: string; visibility?: "public" | "private"; kind?: "group" | "room"; memberIds?: string[] }): Promise<Group> {
    return this.request("POST", "/groups", g);
  }

  direct(userId: string): Promise<Group> {
    return this.request("POST", "/groups/direct", { userId });
  }

  group(id: string): Promise<Group> {
    return this.request("GET", `/groups/${encodeURIComponent(id)}`);
  }

  join(id: string): Promise<Group> {
    return this.request("POST", `/groups/${encodeURIComponent(id)}/join`);
  }

  leave(groupId: string, userId: string): Promise<void> {
    return this.request("DELETE", `/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(userId)}`);
  }

  async members(id: string, cursor?: string): Promise<Page<Member>> {
    const r = await this.request<{ members: Member[]; nextCursor?: string }>(
      "GET",
      `/groups/${encodeURIComponent(id)}/members`,
      undefined,
      { cursor, limit: 200 },
    );
    return { items: r.members, nextCursor: r.nextCursor };
  }

  invite(groupId: string): Promise<Invite> {
    return this.request("POST", `/groups/${encodeURIComponent(groupId)}/invites`);
  }

  acceptInvite(code: string): Promise<Group> {
    return this.request("POST", `/invites/${encodeURIComponent(code)}/accept`);
  }

  // ---- messages ----------------------------------------------------------------------------

  /** A page of history in seq order: the newest, or those before `before`. */
  history(groupId: string, before?: number, limit = 50): Promise<{ messages: Message[]; more: boolean }> {
    return this.request("GET", `/groups/${encodeURIComponent(groupId)}/messages`, undefined, { before, limit });
  }

  markRead(groupId: string, seq: number): Promise<void> {
    return this.request("POST", `/groups/${encodeURIComponent(groupId)}/read`, { seq });
  }

  // ---- attachments -------------------------------------------------------------------------

  /**
   * Uploads a file for a message to `groupId`: asks for a signed PUT, then sends the bytes
   * straight to storage, reporting progress (0–1). Resolves to the attachment to send.
   */
  async upload(groupId: string, file: File, onProgress?: (fraction: number) => void) {
    const contentType = file.type || "application/octet-stream";
    const up = await this.request<Upload>("POST", "/uploads", {
      groupId,
      name: file.name,
      contentType,
      size: file.size,
    });
    await new Promise<void>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(up.method, up.url);
      for (const [k, v] of Object.entries(up.headers)) {
        // The browser sets these itself; the signature still covers them.
        if (!["host", "content-length"].includes(k.toLowerCase())) xhr.setRequestHeader(k, v);
      }
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress?.(e.loaded / e.total);
      };
      xhr.onload = () =>
        xhr.status < 300 ? resolve() : reject(new ApiError(xhr.status, "UPLOAD_FAILED", `storage answered ${xhr.status}`));
      xhr.onerror = () => reject(new ApiError(0, "UPLOAD_FAILED", "the upload did not reach storage"));
      xhr.send(file);
    });
    onProgress?.(1);
    return { key: up.key, name: file.name, contentType, size: file.size };
  }

  /** An attachment's (or a thumbnail's) bytes as an object URL: the download needs the token. */
  async blobUrl(path: string): Promise<string> {
    let r = await fetch(`${this.base}${path}`, { headers: { authorization: `Bearer ${this.session?.accessToken ?? ""}` } });
    if (r.status === 401 && (await this.refresh())) {
      r = await fetch(`${this.base}${path}`, { headers: { authorization: `Bearer ${this.session?.accessToken ?? ""}` } });
    }
    if (!r.ok) return HubbubApi.fail(r);
    return URL.createObjectURL(await r.blob());
  }
}
