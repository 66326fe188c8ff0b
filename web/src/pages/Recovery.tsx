import { useState, type FormEvent } from "react";
import type { Api } from "../lib/api";
import { ErrorMessage, Field, errorText } from "../ui";

/** The token of a reset link: in the fragment (#token=...), so it never reaches a server log. */
export function resetToken(hash: string): string | null {
  return new URLSearchParams(hash.replace(/^#/, "")).get("token");
}

function BackToSignIn(props: { navigate: (path: string) => void }) {
  return (
    <p>
      <a
        href="/signin"
        onClick={(e) => {
          e.preventDefault();
          props.navigate("/signin");
        }}
      >
        Back to sign in
      </a>
    </p>
  );
}

export function ForgotPassword(props: { api: Api; navigate: (path: string) => void }) {
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await props.api.forgotPassword(email.trim());
      setSent(true);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth">
      <h1>Forgot your password?</h1>
      {sent ? (
        <p role="status">If an account has this address, an email with a link to set a new password is on its way. The link works once, for 30 minutes.</p>
      ) : (
        <form onSubmit={submit} noValidate>
          <Field label="Email">
            {(id) => <input id={id} type="email" required value={email} autoComplete="email" onChange={(e) => setEmail(e.target.value)} />}
          </Field>
          <ErrorMessage message={error} />
          <button type="submit" className="primary" disabled={busy}>
            Email me a reset link
          </button>
        </form>
      )}
      <BackToSignIn navigate={props.navigate} />
    </main>
  );
}

export function ResetPassword(props: { api: Api; navigate: (path: string) => void; onReset: () => void }) {
  const [token] = useState(() => resetToken(window.location.hash));
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (password.length < 8) {
      setError("The new password needs at least 8 characters.");
      return;
    }
    setBusy(true);
    try {
      await props.api.resetPassword(token ?? "", password);
      props.onReset();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="auth">
      <h1>Set a new password</h1>
      {token ? (
        <form onSubmit={submit} noValidate>
          <Field label="New password" hint="At least 8 characters">
            {(id) => <input id={id} type="password" required value={password} autoComplete="new-password" onChange={(e) => setPassword(e.target.value)} />}
          </Field>
          <ErrorMessage message={error} />
          <button type="submit" className="primary" disabled={busy}>
            Set password
          </button>
        </form>
      ) : (
        <p className="error" role="alert">
          This page needs the link from the reset email. Ask for a new one if it was lost.
        </p>
      )}
      <BackToSignIn navigate={props.navigate} />
    </main>
  );
}
