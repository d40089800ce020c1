import { useEffect, useState } from "react";
import { ApiError } from "../api/types";
import { useChat } from "../store";
import { Conversation } from "./Conversation";
import { Sidebar } from "./Sidebar";

/** What the hash names: `#/g/<id>` or `#/invite/<code>`. */
function route(): { group?: string; invite?: string } {
  const [, kind, value] = location.hash.split("/");
  if (kind === "g" && value) return { group: decodeURIComponent(value) };
  if (kind === "invite" && value) return { invite: decodeURIComponent(value) };
  return {};
}

export function openGroup(id: string | null) {
  location.hash = id ? `#/g/${encodeURIComponent(id)}` : "#/";
}

/** The signed-in app: conversations on the left, the open one on the right (one at a time on a phone). */
export function ChatScreen() {
  const chat = useChat();
  const [hash, setHash] = useState(location.hash);

  useEffect(() => {
    const on = () => setHash(location.hash);
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);

  useEffect(() => {
    const r = route();
    if (r.invite) {
      chat
        .acceptInvite(r.invite)
        .then((g) => openGroup(g.id))
        .catch((e: unknown) => {
          chat.say(
            e instanceof ApiError && e.code === "ALREADY_A_MEMBER"
              ? "You are already in that group."
              : "That invite is not valid any more.",
          );
          openGroup(null);
        });
      return;
    }
    void chat.open(r.group ?? null);
  }, [hash, chat]);

  // Coming back to the tab counts as seeing what arrived meanwhile.
  useEffect(() => {
    const on = () => {
      if (document.visibilityState === "visible" && chat.activeGroupId) chat.seeUpTo(chat.activeGroupId);
    };
    document.addEventListener("visibilitychange", on);
    return () => document.removeEventListener("visibilitychange", on);
  }, [chat]);

  const active = chat.activeGroupId ? chat.groups.get(chat.activeGroupId) : undefined;
  return (
    <div className={`layout ${active ? "has-active" : ""}`}>
      <Sidebar />
      <main className="pane" aria-label="Conversation">
        {!chat.connected && (
          <p className="banner" role="status">
            Reconnecting… messages you send will go out once back.
          </p>
        )}
        {chat.notice && (
          <p className="banner" role="status">
            {chat.notice}
          </p>
        )}
        {active ? (
          <Conversation key={active.id} group={active} />
        ) : (
          <div className="empty">
            <p>Pick a conversation, or start one.</p>
          </div>
        )}
      </main>
    </div>
  );
}
