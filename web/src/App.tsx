import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { SessionContext, type Session } from "./context";
import { Api, type Notification, type User } from "./lib/api";
import { followNotifications } from "./live";
import { Budgets } from "./pages/Budgets";
import { Dashboard } from "./pages/Dashboard";
import { Expenses } from "./pages/Expenses";
import { Notifications } from "./pages/Notifications";
import { ForgotPassword, ResetPassword } from "./pages/Recovery";
import { Recurring } from "./pages/Recurring";
import { Settings } from "./pages/Settings";
import { ErrorMessage, Field, errorText } from "./ui";

const api = new Api();

const PAGES: { path: string; label: string }[] = [
  { path: "/", label: "Dashboard" },
  { path: "/expenses", label: "Expenses" },
  { path: "/recurring", label: "Recurring" },
  { path: "/budgets", label: "Budgets" },
  { path: "/notifications", label: "Notifications" },
  { path: "/settings", label: "Settings" },
];

function usePath(): [string, (path: string) => void] {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = useCallback((next: string) => {
    if (next !== window.location.pathname) window.history.pushState(null, "", next);
    setPath(next);
    window.scrollTo(0, 0);
  }, []);
  return [path, navigate];
}

interface Toast {
  id: number;
  text: string;
}

export function App() {
  const [path, navigate] = usePath();
  const [user, setUser] = useState<User | null>(null);
  const [checking, setChecking] = useState(true);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [unread, setUnread] = useState(0);
  const [liveTick, setLiveTick] = useState(0);
  const nextToast = useRef(0);

  const toast = useCallback((text: string) => {
    nextToast.current += 1;
    const id = nextToast.current;
    setToasts((all) => [...all, { id, text }]);
    window.setTimeout(() => setToasts((all) => all.filter((t) => t.id !== id)), 8000);
  }, []);

  const signedOut = useCallback(() => {
    setUser(null);
    setUnread(0);
    navigate("/signin");
  }, [navigate]);

  useEffect(() => {
    api.onSignedOut = signedOut;
    // A reload: the access token is gone with the page; the refresh token gets a new one.
    (async () => {
      try {
        if (await api.refresh()) setUser(await api.me());
      } catch {
        api.forget();
      } finally {
        setChecking(false);
      }
    })();
  }, [signedOut]);

  useEffect(() => {
    if (!user) return;
    let stopped = false;
    api.unreadCount().then((n) => !stopped && setUnread(n), () => {});
    const stop = followNotifications(api, (n: Notification) => {
      setUnread((count) => count + 1);
      setLiveTick((tick) => tick + 1);
      toast(`${n.title}: ${n.body}`);
    });
    return () => {
      stopped = true;
      stop();
    };
  }, [user, toast]);

  const signOut = useCallback(async () => {
    try {
      await api.logout();
    } finally {
      signedOut();
    }
  }, [signedOut]);

  const session: Session | null = useMemo(
    () =>
      user && { api, user, setUser, navigate, toast, liveTick, signOut },
    [user, navigate, toast, liveTick, signOut],
  );

  useEffect(() => {
    const page = PAGES.find((p) => p.path === path);
    document.title = page ? `${page.label} · Expense Tracker` : "Expense Tracker";
  }, [path]);

  if (checking) return <p className="loading">Loading…</p>;

  if (path === "/reset-password" || (!session && path === "/forgot-password")) {
    return (
      <>
        {path === "/reset-password" ? (
          <ResetPassword
            api={api}
            navigate={navigate}
            onReset={() => {
              // Every session ended with the reset, this one too.
              api.forget();
              setUser(null);
              window.history.replaceState(null, "", "/signin");
              navigate("/signin");
              toast("Password changed. Sign in with the new one.");
            }}
          />
        ) : (
          <ForgotPassword api={api} navigate={navigate} />
        )}
        <Toasts toasts={toasts} />
      </>
    );
  }

  if (!session) {
    return (
      <>
        <AuthPage
          mode={path === "/signup" ? "signup" : "signin"}
          navigate={navigate}
          onSignedIn={async () => {
            setUser(await api.me());
            navigate("/");
          }}
        />
        <Toasts toasts={toasts} />
      </>
    );
  }

  let page;
  switch (path) {
    case "/expenses":
      page = <Expenses />;
      break;
    case "/recurring":
      page = <Recurring />;
      break;
    case "/budgets":
      page = <Budgets />;
      break;
    case "/notifications":
      page = <Notifications onUnread={setUnread} />;
      break;
    case "/settings":
      page = <Settings />;
      break;
    default:
      page = <Dashboard />;
  }

  return (
    <SessionContext.Provider value={session}>
      <header className="top">
        <a href="/" className="brand" onClick={(e) => { e.preventDefault(); navigate("/"); }}>
          Expense Tracker
        </a>
        <nav aria-label="Main">
          {PAGES.filter((p) => p.path !== "/notifications").map((p) => (
            <a
              key={p.path}
              href={p.path}
              aria-current={path === p.path || (p.path === "/" && !PAGES.some((x) => x.path === path)) ? "page" : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate(p.path);
              }}
            >
              {p.label}
            </a>
          ))}
        </nav>
        <div className="top-actions">
          <a
            href="/notifications"
            className="bell"
            aria-label={`Notifications, ${unread} unread`}
            onClick={(e) => {
              e.preventDefault();
              navigate("/notifications");
            }}
          >
            <svg aria-hidden="true" width="20" height="20" viewBox="0 0 24 24" fill="currentColor">
              <path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z" />
            </svg>
            <span className="badge" data-testid="unread-count">{unread}</span>
          </a>
          <button type="button" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main>{page}</main>
      <Toasts toasts={toasts} />
    </SessionContext.Provider>
  );
}

function Toasts({ toasts }: { toasts: Toast[] }) {
  return (
    <div className="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div className="toast" key={t.id}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

function AuthPage(props: {
  mode: "signin" | "signup";
  navigate: (path: string) => void;
  onSignedIn: () => Promise<void>;
}) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const signup = props.mode === "signup";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (signup && password.length < 8) {
      setError("The password needs at least 8 characters.");
      return;
    }
    setBusy(true);
    try {
      if (signup) await api.register(email, password, name);
      await api.login(email, password);
      await props.onSignedIn();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const other = signup ? "/signin" : "/signup";
  return (
    <main className="auth">
      <h1>{signup ? "Create your account" : "Sign in"}</h1>
      <form onSubmit={submit} noValidate>
        {signup && (
          <Field label="Name (optional)">
            {(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} autoComplete="name" />}
          </Field>
        )}
        <Field label="Email">
          {(id) => (
            <input id={id} type="email" required value={email} autoComplete="email" onChange={(e) => setEmail(e.target.value)} />
          )}
        </Field>
        <Field label="Password">
          {(id) => (
            <input
              id={id}
              type="password"
              required
              value={password}
              autoComplete={signup ? "new-password" : "current-password"}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        <ErrorMessage message={error} />
        <button type="submit" className="primary" disabled={busy}>
          {signup ? "Sign up" : "Sign in"}
        </button>
      </form>
      {!signup && (
        <p>
          <a
            href="/forgot-password"
            onClick={(e) => {
              e.preventDefault();
              props.navigate("/forgot-password");
            }}
          >
            Forgot your password?
          </a>
        </p>
      )}
      <p>
        {signup ? "Have an account? " : "New here? "}
        <a
          href={other}
          onClick={(e) => {
            e.preventDefault();
            setError(null);
            props.navigate(other);
          }}
        >
          {signup ? "Sign in" : "Create an account"}
        </a>
      </p>
    </main>
  );
}
