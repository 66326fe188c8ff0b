import type { Api, Notification } from "./lib/api";
import { SseParser } from "./lib/sse";

/** Follows the notification stream with fetch (the token goes in a header, never in a URL),
 * reconnecting with Last-Event-ID; returns a function that stops it. */
export function followNotifications(api: Api, onNotification: (n: Notification) => void): () => void {
  const controller = new AbortController();
  let lastEventId: string | null = null;
  const run = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        const response = await api.stream(lastEventId, controller.signal);
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        const parser = new SseParser();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const event of parser.feed(value)) {
            if (parser.lastEventId !== null) lastEventId = parser.lastEventId;
            if (event.event === "notification") onNotification(JSON.parse(event.data) as Notification);
          }
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      if (!api.hasSession) return;
      // The stream ended or failed: back off a moment before reconnecting.
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  void run();
  return () => controller.abort();
}
