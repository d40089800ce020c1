// The whole app: sign in (or up), then the chat. The URL's hash names what is open:
// `#/g/<groupId>` a conversation, `#/invite/<code>` an invite to accept.

import { useEffect, useState } from "react";
import { AuthScreen } from "./components/AuthScreen";
import { ChatScreen } from "./components/ChatScreen";
import { store, useChat } from "./store";

export function App() {
  const chat = useChat();
  const [signedIn, setSignedIn] = useState(() => chat.api.current !== null);
  const [failure, setFailure] = useState<string | null>(null);

  useEffect(() => chat.api.onSession((s) => setSignedIn(s !== null)), [chat]);

  useEffect(() => {
    if (!signedIn) return;
    let live = true;
    store.start().catch((e: unknown) => {
      if (live) setFailure(e instanceof Error ? e.message : String(e));
    });
    return () => {
      live = false;
      store.stop();
    };
  }, [signedIn]);

  if (!signedIn) return <AuthScreen />;
  if (failure && !chat.loaded) {
    return (
      <main className="center">
        <p role="alert">Could not load your conversations: {failure}</p>
        <button type="button" onClick={() => location.reload()}>
          Try again
        </button>
      </main>
    );
  }
  if (!chat.loaded) return <main className="center" aria-busy="true">Loading…</main>;
  return <ChatScreen />;
}
