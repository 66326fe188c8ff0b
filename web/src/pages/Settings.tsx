import { useEffect, useState, type FormEvent } from "react";
import { useSession } from "../context";
import type { Preferences, Weekday } from "../lib/api";
import { ErrorMessage, Field, errorText } from "../ui";

const WEEKDAYS: Weekday[] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

export function Settings() {
  const { api, user, setUser, toast, signOut } = useSession();
  const [name, setName] = useState(user.name ?? "");
  const [currency, setCurrency] = useState(user.currency);
  const [timezone, setTimezone] = useState(user.timezone);
  const [prefs, setPrefs] = useState<Preferences | null>(null);
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    api.preferences().then(setPrefs, (e: unknown) => setError(errorText(e)));
  }, [api]);

  const run = async (action: () => Promise<void>) => {
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(errorText(e));
    }
  };

  const saveProfile = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      setUser(await api.updateMe({ name: name.trim() || null, currency: currency.trim().toUpperCase(), timezone: timezone.trim() }));
      toast("Profile saved.");
    });
  };

  const savePassword = (e: FormEvent) => {
    e.preventDefault();
    if (next.length < 8) {
      setError("The new password needs at least 8 characters.");
      return;
    }
    void run(async () => {
      await api.changePassword(current, next);
      setCurrent("");
      setNext("");
      toast("Password changed; other sessions have ended.");
    });
  };

  const remove = () => {
    if (!window.confirm("Delete your account and all its data? This cannot be undone.")) return;
    void run(async () => {
      await api.deleteAccount();
      await signOut();
    });
  };

  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <ErrorMessage message={error} />
      <form className="card" onSubmit={saveProfile} aria-label="Profile">
        <h2>Profile</h2>
        <p>Signed in as {user.email}</p>
        <Field label="Name">{(id) => <input id={id} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="Currency" hint="ISO 4217, like EUR; only while you have no expenses or budgets">
          {(id) => <input id={id} value={currency} maxLength={3} onChange={(e) => setCurrency(e.target.value)} />}
        </Field>
        <Field label="Time zone" hint="IANA name, like Europe/Paris">
          {(id) => <input id={id} value={timezone} onChange={(e) => setTimezone(e.target.value)} />}
        </Field>
        <button type="submit" className="primary">
          Save profile
        </button>
      </form>
      {prefs && (
        <form
          className="card"
          aria-label="Notification preferences"
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              setPrefs(await api.savePreferences(prefs));
              toast("Preferences saved.");
            });
          }}
        >
          <h2>Notifications</h2>
          <label className="check">
            <input type="checkbox" checked={prefs.in_app} onChange={(e) => setPrefs({ ...prefs, in_app: e.target.checked })} /> In the app
          </label>
          <label className="check">
            <input type="checkbox" checked={prefs.email} onChange={(e) => setPrefs({ ...prefs, email: e.target.checked })} /> By email
          </label>
          <label className="check">
            <input type="checkbox" checked={prefs.weekly_digest} onChange={(e) => setPrefs({ ...prefs, weekly_digest: e.target.checked })} /> A weekly
            summary of the week before
          </label>
          <Field label="Weekly summary on">
            {(id) => (
              <select id={id} value={prefs.digest_weekday} disabled={!prefs.weekly_digest} onChange={(e) => setPrefs({ ...prefs, digest_weekday: e.target.value as Weekday })}>
                {WEEKDAYS.map((day) => (
                  <option key={day} value={day}>
                    {day.charAt(0).toUpperCase() + day.slice(1)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="At" hint={`Your time zone: ${user.timezone}`}>
            {(id) => (
              <select id={id} value={prefs.digest_hour} disabled={!prefs.weekly_digest} onChange={(e) => setPrefs({ ...prefs, digest_hour: Number(e.target.value) })}>
                {Array.from({ length: 24 }, (_, hour) => (
                  <option key={hour} value={hour}>
                    {`${String(hour).padStart(2, "0")}:00`}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <button type="submit">Save preferences</button>
        </form>
      )}
      <form className="card" onSubmit={savePassword} aria-label="Password">
        <h2>Password</h2>
        <Field label="Current password">
          {(id) => <input id={id} type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} />}
        </Field>
        <Field label="New password" hint="At least 8 characters">
          {(id) => <input id={id} type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />}
        </Field>
        <button type="submit">Change password</button>
      </form>
      <div className="card danger">
        <h2>Delete account</h2>
        <button type="button" className="danger" onClick={remove}>
          Delete my account
        </button>
      </div>
    </section>
  );
}
