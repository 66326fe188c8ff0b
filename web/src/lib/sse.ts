// Server-Sent Events, read from a fetch() body, because EventSource cannot send a header and
// the access token must not go into a URL. The parser is the part of the WHATWG rules we need.

export interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | null = null;
  lastEventId: string | null = null;

  /** Feed a chunk of text; returns the events it completed. */
  feed(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const done: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) done.push(event);
    }
    return done;
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return null;
      }
      const event = { event: this.event || "message", id: this.id, data: this.data.join("\n") };
      if (this.id !== null) this.lastEventId = this.id;
      this.event = "";
      this.data = [];
      return event;
    }
    if (line.startsWith(":")) return null; // a comment: the server's heartbeat
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
    return null;
  }
}
