import { useState, type SubmitEvent } from "react";
import { ApiError } from "../api/types";
import { store } from "../store";
import { ErrorLine } from "./bits";

/** Sign in, or create an account. */
export function AuthScreen() {
  const [mode, setMode] = useState<"login" | "register">("login");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: SubmitEvent<HTMLFormElement>) {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const get = (k: string) => {
      const v = f.get(k);
      return typeof v === "string" ? v.trim() : "";
    };
    setBusy(true);
    setError(null);
    try {
      if (mode === "login") await store.api.login(get("login"), get("password"));
      else await store.api.register(get("username"), get("email"), get("password"), get("displayName") || undefined);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : "Could not reach hubbub. Try again.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="auth">
      <div className="auth-card">
        <h1 className="brand">hubbub</h1>
        <div role="tablist" aria-label="Sign in or create an account" className="tabs">
          <button type="button" role="tab" aria-selected={mode === "login"} onClick={() => setMode("login")}>
            Sign in
          </button>
          <button type="button" role="tab" aria-selected={mode === "register"} onClick={() => setMode("register")}>
            Create account
          </button>
        </div>
        <form onSubmit={(e) => void submit(e)} aria-label={mode === "login" ? "Sign in" : "Create account"}>
          {mode === "login" ? (
            <label>
              Username or email
              <input name="login" autoComplete="username" required />
            </label>
          ) : (
            <>
              <label>
                Username
                <input name="username" autoComplete="username" required minLength={3} maxLength={32} pattern="[a-zA-Z0-9_.\-]+" />
              </label>
              <label>
                Email
                <input name="email" type="email" autoComplete="email" required />
              </label>
              <label>
                Display name <span className="muted">(optional)</span>
                <input name="displayName" autoComplete="name" maxLength={64} />
              </label>
            </>
          )}
          <label>
            Password
            <input
              name="password"
              type="password"
              autoComplete={mode === "login" ? "current-password" : "new-password"}
              required
              minLength={8}
              maxLength={128}
            />
          </label>
          <ErrorLine error={error} />
          <button type="submit" className="primary" disabled={busy}>
            {mode === "login" ? "Sign in" : "Create account"}
          </button>
        </form>
      </div>
    </main>
  );
}
