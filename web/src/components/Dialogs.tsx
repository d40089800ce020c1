// Starting conversations: a new group or room, a direct chat with someone found by name, and
// public rooms to join.

import { useEffect, useState, type SubmitEvent } from "react";
import { ApiError, type Group, type User } from "../api/types";
import { store, useChat } from "../store";
import { openGroup } from "./ChatScreen";
import { Modal } from "./bits";

const message = (e: unknown) => (e instanceof ApiError ? e.message : "Something went wrong. Try again.");

export function NewGroup({ kind, onClose }: { kind: "group" | "room"; onClose: () => void }) {
  const chat = useChat();
  const [error, setError] = useState<string | null>(null);
  async function submit(e: SubmitEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const value = f.get("name");
    const name = typeof value === "string" ? value.trim() : "";
    const visibility = kind === "room" || f.get("public") === "on" ? "public" : "private";
    try {
      const g = await chat.createGroup(name, kind, visibility);
      onClose();
      openGroup(g.id);
    } catch (err) {
      setError(message(err));
    }
  }
  return (
    <Modal title={kind === "room" ? "New public room" : "New group"} onClose={onClose}>
      <form onSubmit={(e) => void submit(e)}>
        <label>
          Name
          <input name="name" required maxLength={100} autoFocus />
        </label>
        {kind === "group" && (
          <label className="check">
            <input type="checkbox" name="public" /> Anyone can find and join it
          </label>
        )}
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <button type="submit" className="primary">
          Create
        </button>
      </form>
    </Modal>
  );
}

/** Searches as you type, after a short pause. */
function useSearch<T>(q: string, find: (q: string) => Promise<T[]>, minLength = 1): T[] {
  const [found, setFound] = useState<T[]>([]);
  useEffect(() => {
    if (q.trim().length < minLength) return;
    let live = true;
    const t = setTimeout(() => {
      find(q.trim())
        .then((r) => live && setFound(r))
        .catch(() => live && setFound([]));
    }, 200);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [q, find, minLength]);
  return q.trim().length < minLength ? [] : found;
}

const findUsers = (q: string) => store.api.searchUsers(q).then((p) => p.items);
const findRooms = (q: string) => store.api.publicGroups(q).then((p) => p.items);

export function NewDirect({ onClose }: { onClose: () => void }) {
  const chat = useChat();
  const [q, setQ] = useState("");
  const [error, setError] = useState<string | null>(null);
  const users = useSearch<User>(q, findUsers).filter((u) => u.id !== chat.me?.id);
  async function start(u: User) {
    try {
      const g = await chat.directWith(u.id);
      onClose();
      openGroup(g.id);
    } catch (e) {
      setError(message(e));
    }
  }
  return (
    <Modal title="Direct chat" onClose={onClose}>
      <label>
        Find someone by name
        <input value={q} onChange={(e) => setQ(e.target.value)} autoFocus placeholder="username or name" />
      </label>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <ul className="results" aria-label="People">
        {users.map((u) => (
          <li key={u.id}>
            <button type="button" onClick={() => void start(u)}>
              <strong>{u.displayName}</strong> <span className="muted">@{u.username}</span>
            </button>
          </li>
        ))}
      </ul>
    </Modal>
  );
}

export function BrowseRooms({ onClose }: { onClose: () => void }) {
  const chat = useChat();
  const [q, setQ] = useState("");
  const [error, setError] = useState<string | null>(null);
  const rooms = useSearch<Group>(q, findRooms);
  async function join(g: Group) {
    try {
      if (!chat.groups.has(g.id)) await chat.join(g.id);
      onClose();
      openGroup(g.id);
    } catch (e) {
      setError(message(e));
    }
  }
  return (
    <Modal title="Find public rooms" onClose={onClose}>
      <label>
        Room name
        <input value={q} onChange={(e) => setQ(e.target.value)} autoFocus placeholder="starts with…" />
      </label>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <ul className="results" aria-label="Rooms">
        {rooms.map((g) => (
          <li key={g.id}>
            <button type="button" onClick={() => void join(g)}>
              <strong>{g.name}</strong>{" "}
              <span className="muted">
                {g.memberCount} member{g.memberCount === 1 ? "" : "s"}
                {chat.groups.has(g.id) ? " · joined" : " · join"}
              </span>
            </button>
          </li>
        ))}
      </ul>
    </Modal>
  );
}
