// The public objects of hubbub's API (API.md; /api/v1/openapi.json and /api/v1/asyncapi.json
// are generated from the server and say the same).

export interface User {
  id: string;
  username: string;
  displayName: string;
  avatarUrl?: string;
  bio?: string;
  createdAt: string;
  lastSeenAt?: string;
}

export type GroupKind = "group" | "direct" | "room";
export type Role = "owner" | "admin" | "member";

export interface Group {
  id: string;
  kind: GroupKind;
  name: string;
  description?: string;
  visibility: "public" | "private";
  ownerId: string;
  memberCount: number;
  createdAt: string;
  myRole?: Role;
  lastMessage?: Message;
  unreadCount?: number;
}

export interface Member {
  userId: string;
  role: Role;
  joinedAt: string;
}

export interface Attachment {
  key: string;
  name: string;
  contentType: string;
  size: number;
  /** Where a member downloads it (a redirect to a short-lived signed URL). */
  url?: string;
  width?: number;
  height?: number;
  /** A small JPEG preview of an image, once made (a `chat.message.edited` announces it). */
  thumbnailUrl?: string;
}

export type MessageType = "text" | "image" | "file" | "system";

export interface Message {
  id: string;
  groupId: string;
  /** The message's place in its group: 1, 2, 3, … with no gaps, the same for every member. */
  seq: number;
  senderId: string;
  content: string;
  type: MessageType;
  attachments: Attachment[];
  clientMsgId?: string;
  createdAt: string;
  editedAt?: string;
  deleted: boolean;
}

export interface Tokens {
  user?: User;
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  role: "admin" | "user";
}

export interface Upload {
  key: string;
  url: string;
  method: "PUT";
  /** Send these exactly: they are part of the signature. */
  headers: Record<string, string>;
  expiresAt: string;
}

export interface Invite {
  code: string;
  groupId: string;
  expiresAt: string;
}

/** An API error: `{error: {code, message, requestId}}` with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId?: string,
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

// ---- Socket.IO events ----------------------------------------------------------------------

export interface AckError {
  ok: false;
  error: { code: string; message: string; retryAfterMs?: number };
}
export type Ack<T = object> = ({ ok: true } & T) | AckError;

export interface SyncGroup {
  groupId: string;
  status: "ok" | "gone" | "unknown";
  headSeq: number;
  readSeq: number;
}

export interface Receipt {
  groupId: string;
  userId: string;
  seq: number;
}

export interface ServerEvents {
  "chat.message.incoming": (m: Message) => void;
  "chat.message.edited": (m: Message) => void;
  "chat.message.deleted": (d: { id: string; groupId: string; seq: number }) => void;
  "chat.message.delivered": (r: Receipt) => void;
  "chat.message.seen": (r: Receipt) => void;
  "chat.typing": (t: { groupId: string; userId: string; isTyping: boolean }) => void;
  "user.presence": (p: { userId: string; online: boolean; lastSeenAt?: string | null }) => void;
  "group.created": (g: Group) => void;
  "group.updated": (g: Group) => void;
  "group.deleted": (d: { id: string }) => void;
  "group.member.added": (d: { groupId: string; member: Member; group?: Group }) => void;
  "group.member.removed": (d: { groupId: string; userId: string; left?: boolean }) => void;
  "group.member.updated": (d: { groupId: string; member: Member }) => void;
}
