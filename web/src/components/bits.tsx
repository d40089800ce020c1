// Small shared pieces: avatars, presence dots, times, and a modal dialog.

import { useEffect, useRef, type ReactNode } from "react";
import { useChat } from "../store";

export function Avatar({ name }: { name: string }) {
  const letter = (name.trim()[0] ?? "?").toUpperCase();
  let hue = 0;
  for (const c of name) hue = (hue * 31 + c.charCodeAt(0)) % 360;
  return (
    <span className="avatar" aria-hidden="true" style={{ background: `hsl(${hue} 55% 45%)` }}>
      {letter}
    </span>
  );
}

export function PresenceDot({ userId }: { userId: string }) {
  const chat = useChat();
  const p = chat.presence.get(userId);
  if (!p) return null;
  return (
    <span
      className={`presence ${p.online ? "online" : "offline"}`}
      role="img"
      aria-label={p.online ? "online" : "offline"}
      data-testid="presence"
      data-online={p.online}
    />
  );
}

export function shortTime(iso: string): string {
  const d = new Date(iso);
  const now = new Date();
  return d.toDateString() === now.toDateString()
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString([], { month: "short", day: "numeric" });
}

export function lastSeen(iso?: string | null): string {
  if (!iso) return "offline";
  const mins = Math.round((Date.now() - Date.parse(iso)) / 60000);
  if (mins < 1) return "last seen just now";
  if (mins < 60) return `last seen ${mins} min ago`;
  return `last seen ${shortTime(iso)}`;
}

/** A modal dialog (the browser's own: focus is trapped, Escape closes it). */
export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog ref={ref} aria-label={title} onClose={onClose} onCancel={onClose} className="modal">
      <header className="row">
        <h2>{title}</h2>
        <button type="button" className="ghost" aria-label="Close" onClick={onClose}>
          ✕
        </button>
      </header>
      {children}
    </dialog>
  );
}

/** A paperclip, drawn (emoji fonts are not everywhere). */
export function Clip() {
  return (
    <svg className="icon" viewBox="0 0 24 24" width="1em" height="1em" aria-hidden="true" focusable="false">
      <path
        d="M16.5 6.5 8.6 14.4a2 2 0 0 0 2.8 2.8l7.9-7.9a4 4 0 0 0-5.7-5.7l-7.9 7.9a6 6 0 0 0 8.5 8.5l6.4-6.4"
        fill="none"
        stroke="currentColor"
        strokeWidth="2"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/** An error to announce, if there is one. */
export function ErrorLine({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {error}
    </p>
  );
}

/** A labelled search box. */
export function SearchField(props: { label: string; placeholder: string; value: string; onChange: (q: string) => void }) {
  return (
    <label>
      {props.label}
      <input value={props.value} onChange={(e) => props.onChange(e.target.value)} autoFocus placeholder={props.placeholder} />
    </label>
  );
}
