import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("parses events split across chunks, skipping heartbeats", () => {
    const parser = new SseParser();
    expect(parser.feed(": ping\n\nevent: notif")).toEqual([]);
    expect(parser.feed('ication\nid: 7\ndata: {"a":')).toEqual([]);
    expect(parser.feed("1}\n\n")).toEqual([{ event: "notification", id: "7", data: '{"a":1}' }]);
    expect(parser.lastEventId).toBe("7");
  });
  it("joins multi-line data and handles CRLF", () => {
    const parser = new SseParser();
    expect(parser.feed("data: one\r\ndata: two\r\n\r\n")).toEqual([{ event: "message", id: null, data: "one\ntwo" }]);
  });
});
