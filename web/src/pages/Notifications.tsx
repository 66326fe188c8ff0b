import { useEffect, useState } from "react";
import { useSession } from "../context";
import type { Notification } from "../lib/api";
import { ErrorMessage, errorText } from "../ui";

export function Notifications({ onUnread }: { onUnread: (n: number) => void }) {
  const { api, liveTick } = useSession();
  const [items, setItems] = useState<Notification[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let current = true;
    Promise.all([api.notifications(), api.unreadCount()]).then(
      ([page, count]) => {
        if (!current) return;
        setItems(page.items);
        onUnread(count);
      },
      (e: unknown) => current && setError(errorText(e)),
    );
    return () => {
      current = false;
    };
  }, [api, liveTick, reload, onUnread]);

  const act = async (action: () => Promise<void>) => {
    try {
      await action();
      setReload((n) => n + 1);
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <section aria-labelledby="notifications-title">
      <div className="page-head">
        <h1 id="notifications-title">Notifications</h1>
        <button type="button" onClick={() => void act(() => api.readAll())}>
          Mark all read
        </button>
      </div>
      <ErrorMessage message={error} />
      {items.length === 0 && <p>No notifications.</p>}
      <ul className="plain feed">
        {items.map((n) => (
          <li key={n.id} className={`card ${n.read_at ? "read" : "unread"}`}>
            <strong>{n.title}</strong>
            {!n.read_at && <span className="tag">new</span>}
            <p>{n.body}</p>
            <small>{new Date(n.created_at).toLocaleString()}</small>
            {!n.read_at && (
              <button type="button" aria-label={`Mark "${n.title}" read`} onClick={() => void act(() => api.markRead(n.id))}>
                Mark read
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
