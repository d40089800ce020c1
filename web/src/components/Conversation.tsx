import { useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from "react";
import { ApiError, type Attachment, type Group, type Message } from "../api/types";
import { store, useChat, type Pending, type Tick } from "../store";
import { openGroup } from "./ChatScreen";
import { Avatar, Clip, Modal, PresenceDot, lastSeen, shortTime } from "./bits";

/** One open conversation: who is in it, its history (older pages load as you scroll up), and the composer. */
export function Conversation({ group }: { group: Group }) {
  const chat = useChat();
  const [invite, setInvite] = useState<string | null>(null);
  const other = group.kind === "direct" ? chat.otherMember(group) : undefined;
  const typists = chat.typists(group.id);
  const presence = other ? chat.presence.get(other) : undefined;
  const subtitle =
    typists.length > 0
      ? `${typists.join(", ")} ${typists.length === 1 ? "is" : "are"} typing…`
      : presence
        ? presence.online
          ? "online"
          : lastSeen(presence.lastSeenAt)
        : `${group.memberCount} member${group.memberCount === 1 ? "" : "s"}${group.kind === "room" ? " · public room" : ""}`;
  const canInvite = group.kind !== "direct" && (group.myRole === "owner" || group.myRole === "admin");

  async function makeInvite() {
    try {
      const i = await chat.api.invite(group.id);
      setInvite(`${location.origin}/#/invite/${encodeURIComponent(i.code)}`);
    } catch (e) {
      chat.say(e instanceof ApiError ? e.message : "Could not make an invite.");
    }
  }

  return (
    <section className="conversation" aria-label={chat.title(group)}>
      <header className="conv-head">
        <button type="button" className="ghost back" aria-label="Back to conversations" onClick={() => openGroup(null)}>
          ←
        </button>
        <Avatar name={chat.title(group)} />
        {other && <PresenceDot userId={other} />}
        <div className="grow">
          <h2 className="ellipsis">{chat.title(group)}</h2>
          <p className={`muted small ${typists.length > 0 ? "typing" : ""}`} aria-live="polite" data-testid="subtitle">
            {subtitle}
          </p>
        </div>
        {canInvite && (
          <button type="button" onClick={() => void makeInvite()}>
            Invite
          </button>
        )}
        {group.kind !== "direct" && (
          <button
            type="button"
            className="ghost"
            onClick={() => {
              if (confirm(`Leave ${group.name}?`)) void chat.leave(group.id).then(() => openGroup(null));
            }}
          >
            Leave
          </button>
        )}
      </header>
      <TimelineView group={group} />
      <Composer group={group} />
      {invite && (
        <Modal title="Invite link" onClose={() => setInvite(null)}>
          <p>Anyone signed in who opens this link joins {group.name}.</p>
          <input readOnly value={invite} aria-label="Link to share" onFocus={(e) => e.currentTarget.select()} />
          <button type="button" className="primary" onClick={() => void navigator.clipboard.writeText(invite)}>
            Copy
          </button>
        </Modal>
      )}
    </section>
  );
}

function TimelineView({ group }: { group: Group }) {
  const chat = useChat();
  const box = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const anchor = useRef<number | null>(null);
  const [loading, setLoading] = useState(false);
  const timeline = chat.timelines.get(group.id);
  const messages = timeline?.messages() ?? [];
  const pending = chat.pendingOf(group.id);
  const count = messages.length + pending.length;

  // Keep the view where the reader left it: at the bottom for new messages, in place when an
  // older page is added above.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (anchor.current !== null) {
      el.scrollTop = el.scrollHeight - anchor.current;
      anchor.current = null;
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [count, chat.version]);

  async function older() {
    const el = box.current;
    if (!el || loading || !timeline?.olderExist) return;
    setLoading(true);
    anchor.current = el.scrollHeight - el.scrollTop;
    try {
      await chat.loadOlder(group.id);
    } finally {
      setLoading(false);
    }
  }

  function onScroll() {
    const el = box.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 60;
    if (el.scrollTop < 80) void older();
  }

  // A first page that does not fill the view: load more until it scrolls.
  useEffect(() => {
    const el = box.current;
    if (el && el.scrollHeight <= el.clientHeight && timeline?.olderExist && timeline.size > 0) void older();
  });

  return (
    <div className="timeline" ref={box} onScroll={onScroll} role="log" aria-label="Messages" aria-live="polite">
      {timeline?.olderExist === false ? (
        <p className="muted center small">This is the start of the conversation.</p>
      ) : (
        loading && <p className="muted center small">Loading earlier messages…</p>
      )}
      {messages.map((m, i) => (
        <MessageView
          key={m.seq}
          message={m}
          showSender={group.kind !== "direct" && m.senderId !== messages[i - 1]?.senderId}
        />
      ))}
      {pending.map((p) => (
        <PendingView key={p.clientMsgId} pending={p} />
      ))}
      {count === 0 && timeline && <p className="muted center">No messages yet. Say hello.</p>}
      {chat.timelines.has(group.id) || <p className="muted center">Loading…</p>}
    </div>
  );
}

const TICKS: Record<Tick, string> = { pending: "…", failed: "!", sent: "✓", delivered: "✓✓", seen: "✓✓" };

function TickView({ tick }: { tick: Tick }) {
  return (
    <span className={`tick ${tick}`} data-tick={tick} aria-label={tick} title={tick}>
      {TICKS[tick]}
    </span>
  );
}

function MessageView({ message: m, showSender }: { message: Message; showSender: boolean }) {
  const chat = useChat();
  const mine = m.senderId === chat.me?.id;
  const [editing, setEditing] = useState(false);
  const sender = chat.users.get(m.senderId)?.displayName ?? "…";
  return (
    <article className={`msg ${mine ? "mine" : ""}`} data-seq={m.seq} aria-label={`${mine ? "You" : sender}, ${shortTime(m.createdAt)}`}>
      {showSender && !mine && <p className="sender small">{sender}</p>}
      <div className="bubble">
        {m.deleted ? (
          <p className="muted deleted">Message deleted</p>
        ) : editing ? (
          <EditBox message={m} done={() => setEditing(false)} />
        ) : (
          <>
            {m.attachments.map((a) => (
              <AttachmentView key={a.key} attachment={a} />
            ))}
            {m.content && <p className="content">{m.content}</p>}
          </>
        )}
        <footer className="meta small">
          {m.editedAt && !m.deleted && <span className="muted">edited · </span>}
          <time dateTime={m.createdAt} className="muted">
            {shortTime(m.createdAt)}
          </time>
          {mine && !m.deleted && <TickView tick={chat.tick(m)} />}
        </footer>
      </div>
      {mine && !m.deleted && !editing && (
        <div className="msg-actions">
          <button type="button" className="ghost small" onClick={() => setEditing(true)}>
            Edit
          </button>
          <button
            type="button"
            className="ghost small"
            onClick={() => {
              if (confirm("Delete this message for everyone?")) void chat.remove(m);
            }}
          >
            Delete
          </button>
        </div>
      )}
    </article>
  );
}

function EditBox({ message, done }: { message: Message; done: () => void }) {
  const [text, setText] = useState(message.content);
  const [error, setError] = useState<string | null>(null);
  async function save() {
    try {
      if (text.trim() && text !== message.content) await store.edit(message, text.trim());
      done();
    } catch (e) {
      setError(e instanceof Error ? e.message : "Could not save");
    }
  }
  return (
    <div className="edit">
      <textarea
        aria-label="Edit message"
        value={text}
        autoFocus
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            void save();
          } else if (e.key === "Escape") done();
        }}
      />
      {error && (
        <p role="alert" className="error small">
          {error}
        </p>
      )}
      <span className="muted small">Enter to save · Esc to cancel</span>
    </div>
  );
}

function PendingView({ pending: p }: { pending: Pending }) {
  return (
    <article className="msg mine pending" aria-label="Sending">
      <div className="bubble">
        {p.files.map((f) => (
          <p key={f.name} className="file small">
            <Clip /> {f.name}{" "}
            <progress max={1} value={f.progress} aria-label={`Uploading ${f.name}`}>
              {Math.round(f.progress * 100)}%
            </progress>
          </p>
        ))}
        {p.content && <p className="content">{p.content}</p>}
        <footer className="meta small">
          {p.status === "failed" ? (
            <span className="error">Not sent: {p.error} </span>
          ) : (
            <span className="muted">Sending… </span>
          )}
          <TickView tick={p.status} />
        </footer>
      </div>
    </article>
  );
}

function sizeOf(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(0)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function AttachmentView({ attachment: a }: { attachment: Attachment }) {
  const [src, setSrc] = useState<string | null>(null);
  const image = a.contentType.startsWith("image/");
  const preview = a.thumbnailUrl ?? a.url;
  useEffect(() => {
    if (!image || !preview) return;
    let live = true;
    store.api
      .blobUrl(preview)
      .then((u) => {
        if (live) setSrc(u);
        else URL.revokeObjectURL(u);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [image, preview]);
  // A shown image's URL is revoked once another has replaced it on screen (or it unmounts):
  // revoked while the preview changed (its thumbnail arrived), the old one still rendered and
  // failed to load (ERR_FILE_NOT_FOUND).
  useEffect(
    () => () => {
      if (src) URL.revokeObjectURL(src);
    },
    [src],
  );

  async function download() {
    if (!a.url) return;
    const u = await store.api.blobUrl(a.url);
    const link = document.createElement("a");
    link.href = u;
    link.download = a.name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(u), 10000);
  }

  if (image) {
    const ratio = a.width && a.height ? `${a.width} / ${a.height}` : undefined;
    return (
      <button type="button" className="image" onClick={() => void download()} aria-label={`Image ${a.name}, download`}>
        {src ? (
          <img src={src} alt={a.name} style={{ aspectRatio: ratio }} data-thumbnail={a.thumbnailUrl ? "yes" : "no"} />
        ) : (
          <span className="placeholder" style={{ aspectRatio: ratio ?? "4 / 3" }} />
        )}
      </button>
    );
  }
  return (
    <button type="button" className="file" onClick={() => void download()}>
      <Clip /> {a.name} <span className="muted small">{sizeOf(a.size)}</span>
    </button>
  );
}

function Composer({ group }: { group: Group }) {
  const chat = useChat();
  const [text, setText] = useState("");
  const [files, setFiles] = useState<File[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);

  function send() {
    const content = text.trim();
    if (!content && files.length === 0) return;
    void chat.send(group.id, content, files);
    chat.typingNow(group.id, false);
    setText("");
    setFiles([]);
    if (fileInput.current) fileInput.current.value = "";
  }

  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      send();
    }
  }

  return (
    <form
      className="composer"
      onSubmit={(e) => {
        e.preventDefault();
        send();
      }}
    >
      {files.length > 0 && (
        <ul className="chips" aria-label="Attachments to send">
          {files.map((f) => (
            <li key={f.name}>
              <Clip /> {f.name}
              <button type="button" className="ghost small" aria-label={`Remove ${f.name}`} onClick={() => setFiles(files.filter((x) => x !== f))}>
                ✕
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="row">
        <label className="attach" title="Attach files">
          <Clip />
          <span className="sr-only">Attach files</span>
          <input
            ref={fileInput}
            type="file"
            multiple
            onChange={(e) => setFiles([...files, ...Array.from(e.target.files ?? [])].slice(0, 10))}
          />
        </label>
        <textarea
          aria-label="Message"
          placeholder="Message"
          rows={1}
          maxLength={4000}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            chat.typingNow(group.id, e.target.value.length > 0);
          }}
          onBlur={() => chat.typingNow(group.id, false)}
          onKeyDown={onKey}
        />
        <button type="submit" className="primary" disabled={!text.trim() && files.length === 0}>
          Send
        </button>
      </div>
    </form>
  );
}
