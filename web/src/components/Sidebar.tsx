import { useEffect, useState } from "react";
import type { Group } from "../api/types";
import { useChat } from "../store";
import { openGroup } from "./ChatScreen";
import { BrowseRooms, NewDirect, NewGroup } from "./Dialogs";
import { Avatar, PresenceDot, shortTime } from "./bits";

type Open = null | "group" | "room" | "direct" | "browse";

/** The ways to start a conversation, by the dialog each opens. */
const STARTS: [Exclude<Open, null>, string][] = [
  ["group", "New group"],
  ["room", "New room"],
  ["direct", "Direct chat"],
  ["browse", "Find rooms"],
];

/** The signed-in user, what they can start, and their conversations, most recent first. */
export function Sidebar() {
  const chat = useChat();
  const [dialog, setDialog] = useState<Open>(null);
  const me = chat.me;
  return (
    <nav className="sidebar" aria-label="Conversations">
      <header className="me">
        <Avatar name={me?.displayName ?? "?"} />
        <div className="grow">
          <strong>{me?.displayName}</strong>
          <span className="muted small">
            <span className={`conn ${chat.connected ? "on" : "off"}`} aria-hidden="true" />
            {chat.connected ? "Connected" : "Connecting…"}
          </span>
        </div>
        <button type="button" className="ghost" onClick={() => void chat.logout()}>
          Sign out
        </button>
      </header>
      <div className="actions" role="group" aria-label="Start a conversation">
        {STARTS.map(([open, label]) => (
          <button key={open} type="button" onClick={() => setDialog(open)}>
            {label}
          </button>
        ))}
      </div>
      <ul className="groups">
        {chat.sortedGroups().map((g) => (
          <GroupItem key={g.id} group={g} active={g.id === chat.activeGroupId} />
        ))}
        {chat.groups.size === 0 && <li className="muted pad">No conversations yet.</li>}
      </ul>
      {dialog === "group" && <NewGroup kind="group" onClose={() => setDialog(null)} />}
      {dialog === "room" && <NewGroup kind="room" onClose={() => setDialog(null)} />}
      {dialog === "direct" && <NewDirect onClose={() => setDialog(null)} />}
      {dialog === "browse" && <BrowseRooms onClose={() => setDialog(null)} />}
    </nav>
  );
}

function GroupItem({ group, active }: { group: Group; active: boolean }) {
  const chat = useChat();
  // A direct chat is shown by the other person's name and presence.
  useEffect(() => {
    if (group.kind === "direct") void chat.ensureMembers(group.id);
  }, [chat, group.id, group.kind]);
  const title = chat.title(group);
  const last = group.lastMessage;
  const other = group.kind === "direct" ? chat.otherMember(group) : undefined;
  const unread = group.unreadCount ?? 0;
  const preview = last
    ? last.deleted
      ? "Message deleted"
      : last.content || (last.attachments.length > 0 ? `Attachment: ${last.attachments[0]?.name ?? "file"}` : "")
    : group.kind === "room"
      ? "Public room"
      : "No messages yet";
  return (
    <li>
      <button
        type="button"
        className={`group-item ${active ? "active" : ""}`}
        aria-current={active ? "page" : undefined}
        onClick={() => openGroup(group.id)}
        data-group-id={group.id}
      >
        <Avatar name={title} />
        {other && <PresenceDot userId={other} />}
        <span className="grow">
          <span className="row">
            <strong className="ellipsis">{title}</strong>
            {last && <time className="muted small">{shortTime(last.createdAt)}</time>}
          </span>
          <span className="row">
            <span className="muted ellipsis small">{preview}</span>
            {unread > 0 && (
              <span className="badge" aria-label={`${unread} unread`}>
                {unread > 99 ? "99+" : unread}
              </span>
            )}
          </span>
        </span>
      </button>
    </li>
  );
}
