// Starting conversations: a new group or room, a direct chat with someone found by name, and
// public rooms to join.

import { useCallback, useEffect, useState, type ReactNode, type SubmitEvent } from "react";
import { ApiError, type Group, type User } from "../api/types";
import { store, useChat } from "../store";
import { openGroup } from "./ChatScreen";
import { ErrorLine, Modal, SearchField } from "./bits";

const message = (e: unknown) => (e instanceof ApiError ? e.message : "Something went wrong. Try again.");

/** Runs what a dialog does to reach a group; on success closes the dialog and opens the group. */
function useOpening(onClose: () => void): [string | null, (reach: () => Promise<string>) => Promise<void>] {
  const [error, setError] = useState<string | null>(null);
  async function run(reach: () => Promise<string>) {
    try {
      const id = await reach();
      onClose();
      openGroup(id);
    } catch (e) {
      setError(message(e));
    }
  }
  return [error, run];
}

export function NewGroup({ kind, onClose }: { kind: "group" | "room"; onClose: () => void }) {
  const chat = useChat();
  const [error, open] = useOpening(onClose);
  async function submit(e: SubmitEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const value = f.get("name");
    const name = typeof value === "string" ? value.trim() : "";
    const visibility = kind === "room" || f.get("public") === "on" ? "public" : "private";
    await open(async () => (await chat.createGroup(name, kind, visibility)).id);
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
        <ErrorLine error={error} />
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

/**
 * A dialog that searches as you type and opens the group the picked result leads to: `reach`
 * gives that group's id.
 */
function SearchDialog<T extends { id: string }>(props: {
  title: string;
  label: string;
  placeholder: string;
  results: string;
  find: (q: string) => Promise<T[]>;
  show: (item: T) => ReactNode;
  reach: (item: T) => Promise<string>;
  onClose: () => void;
}) {
  const [q, setQ] = useState("");
  const [error, open] = useOpening(props.onClose);
  const found = useSearch<T>(q, props.find);
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <SearchField label={props.label} placeholder={props.placeholder} value={q} onChange={setQ} />
      <ErrorLine error={error} />
      <ul className="results" aria-label={props.results}>
        {found.map((item) => (
          <li key={item.id}>
            <button type="button" onClick={() => void open(() => props.reach(item))}>
              {props.show(item)}
            </button>
          </li>
        ))}
      </ul>
    </Modal>
  );
}

export function NewDirect({ onClose }: { onClose: () => void }) {
  const chat = useChat();
  // Not yourself.
  const find = useCallback(
    (q: string) => findUsers(q).then((users) => users.filter((u) => u.id !== chat.me?.id)),
    [chat],
  );
  return (
    <SearchDialog<User>
      title="Direct chat"
      label="Find someone by name"
      placeholder="username or name"
      results="People"
      find={find}
      show={(u) => (
        <>
          <strong>{u.displayName}</strong> <span className="muted">@{u.username}</span>
        </>
      )}
      reach={async (u) => (await chat.directWith(u.id)).id}
      onClose={onClose}
    />
  );
}

export function BrowseRooms({ onClose }: { onClose: () => void }) {
  const chat = useChat();
  return (
    <SearchDialog<Group>
      title="Find public rooms"
      label="Room name"
      placeholder="starts with…"
      results="Rooms"
      find={findRooms}
      show={(g) => (
        <>
          <strong>{g.name}</strong>{" "}
          <span className="muted">
            {g.memberCount} member{g.memberCount === 1 ? "" : "s"}
            {chat.groups.has(g.id) ? " · joined" : " · join"}
          </span>
        </>
      )}
      reach={async (g) => (chat.groups.has(g.id) ? g.id : (await chat.join(g.id)).id)}
      onClose={onClose}
    />
  );
}
