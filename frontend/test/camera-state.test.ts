import { describe, expect, it } from "vitest";
import type { TimelineData } from "../src/timeline";
import { MIN_VIEW_SECONDS, dayBounds } from "../src/timeline";
import {
  currentEvent,
  dateLimits,
  continueFrom,
  dayView,
  followPlayhead,
  markSelection,
  playbackRange,
  selectableView,
  timelineKey,
} from "../src/views/camera-state";

const AMS = "Europe/Amsterdam";
const utc = (iso: string): number => Date.parse(iso) / 1000;
const day = dayBounds("2026-06-15", AMS); // 24 hours
const timeline = (extra: Partial<TimelineData> = {}): TimelineData => ({
  start: day.start,
  end: day.end,
  now: day.start + 12 * 3600,
  first: null,
  spans: [[day.start + 3600, day.start + 7200]],
  gaps: [],
  events: [],
  ...extra,
});

describe("the day and what may be selected", () => {
  it("zoom and pan stay in the day; a selection stops at now", () => {
    const tl = timeline();
    expect(dayView(tl)).toEqual(day);
    expect(selectableView(tl, day.start + 100)).toEqual({ start: day.start, end: day.start + 100 });
    expect(selectableView(tl, day.end + 5000)).toEqual(day); // a past day: all of it
  });

  it("the date picker goes back to the day of the oldest footage, forward to today", () => {
    const now = utc("2026-06-15T21:30:00Z"); // 23:30 in Amsterdam
    expect(dateLimits(null, AMS, now)).toEqual({ first: "2026-06-15", today: "2026-06-15" });
    const tl = timeline({ first: utc("2026-06-02T22:30:00Z") }); // 00:30 on the 3rd, local
    expect(dateLimits(tl, AMS, now)).toEqual({ first: "2026-06-03", today: "2026-06-15" });
    // 22:30 UTC on the 15th is 00:30 on the 16th in Amsterdam: "today" is the local date.
    expect(dateLimits(tl, AMS, utc("2026-06-15T22:30:00Z")).today).toBe("2026-06-16");
  });
});

describe("the range a playback asks for", () => {
  it("whole seconds from the moment to now (a live day)", () => {
    const tl = timeline();
    expect(playbackRange(tl, tl.now - 1800.7)).toEqual({ start: tl.now - 1801, end: tl.now });
  });

  it("at least a second, even at now", () => {
    const tl = timeline();
    expect(playbackRange(tl, tl.now - 0.2)).toEqual({ start: tl.now - 1, end: tl.now + 1 });
  });

  it("to the end of a past day, rounded up", () => {
    const tl = timeline({ now: day.end + 86400, end: day.end + 0.5 });
    expect(playbackRange(tl, day.end - 100)).toEqual({ start: day.end - 100, end: day.end + 1 });
  });

  it("an hour at most (a day's playlist is megabytes), from any moment of the day", () => {
    const fall = dayBounds("2026-10-25", AMS);
    const tl = timeline({ start: fall.start, end: fall.end, now: fall.end + 10 });
    expect(fall.end - fall.start).toBe(25 * 3600);
    expect(playbackRange(tl, fall.start)).toEqual({ start: fall.start, end: fall.start + 3600 });
    expect(playbackRange(tl, fall.start + 10.5)).toEqual({ start: fall.start + 10, end: fall.start + 3611 });
  });
});

describe("where playback goes on when a playlist has played out", () => {
  const spans: Array<[number, number]> = [
    [day.start + 3600, day.start + 9000],
    [day.start + 10_000, day.start + 11_000],
  ];

  it("from the playlist's last segment end, inside the footage", () => {
    const tl = timeline({ spans, now: day.end + 10 });
    expect(continueFrom(tl, day.start + 7210.4)).toBe(day.start + 7210.4);
  });

  it("across a gap: the next footage", () => {
    const tl = timeline({ spans, now: day.end + 10 });
    expect(continueFrom(tl, day.start + 9000)).toBe(day.start + 10_000);
  });

  it("nowhere after the day's last footage, nor at now or the day's end", () => {
    expect(continueFrom(timeline({ spans, now: day.end + 10 }), day.start + 11_000)).toBeNull();
    expect(continueFrom(timeline({ spans, now: day.start + 8000 }), day.start + 8000)).toBeNull();
    expect(continueFrom(timeline({ spans, now: day.end + 10, end: day.start + 7000 }), day.start + 7000)).toBeNull();
  });
});

describe("the selection buttons", () => {
  const bounds = { start: 0, end: 10_000 };

  it("start or end alone make a one-second selection at the moment", () => {
    expect(markSelection(null, 500, 0, bounds)).toEqual([500, 501]);
    expect(markSelection(null, 500, 1, bounds)).toEqual([499, 500]);
  });

  it("the other end is kept", () => {
    expect(markSelection([100, 900], 300, 0, bounds)).toEqual([300, 900]);
    expect(markSelection([100, 900], 1500, 1, bounds)).toEqual([100, 1500]);
  });

  it("a start after the end moves the end along; an end before the start, the start", () => {
    expect(markSelection([100, 900], 950, 0, bounds)).toEqual([950, 951]);
    expect(markSelection([100, 900], 50, 1, bounds)).toEqual([49, 50]);
  });

  it("stays inside the bounds (not after now)", () => {
    expect(markSelection([100, 900], 10_000, 1, bounds)).toEqual([100, 10_000]);
    expect(markSelection(null, 10_000, 0, bounds)).toBeNull(); // nothing left after now
  });
});

describe("the keyboard on the timeline", () => {
  const bounds = { start: 0, end: 86_400 };
  const view = { start: 36_000, end: 46_000 }; // a step is 200 s

  it("the arrows move the cursor a fiftieth of the view, from the playhead, else the view's start", () => {
    expect(timelineKey("ArrowRight", { view, bounds, cursor: null, playing: null })).toEqual({
      kind: "move",
      cursor: 36_200,
      view,
    });
    expect(timelineKey("ArrowLeft", { view, bounds, cursor: null, playing: 40_000 })).toEqual({
      kind: "move",
      cursor: 39_800,
      view,
    });
    expect(timelineKey("ArrowRight", { view, bounds, cursor: 41_000, playing: 40_000 })).toMatchObject({
      cursor: 41_200,
    });
  });

  it("a cursor leaving the view brings the view along, centred on it", () => {
    const action = timelineKey("ArrowRight", { view, bounds, cursor: 45_900, playing: null });
    expect(action).toEqual({ kind: "move", cursor: 46_100, view: { start: 41_100, end: 51_100 } });
  });

  it("the cursor stops at the ends of the day, and the view with it", () => {
    const start = { start: 0, end: 10_000 };
    expect(timelineKey("ArrowLeft", { view: start, bounds, cursor: 50, playing: null })).toEqual({
      kind: "move",
      cursor: 0,
      view: start,
    });
    const end = { start: 76_400, end: 86_400 };
    expect(timelineKey("ArrowRight", { view: end, bounds, cursor: 86_350, playing: null })).toEqual({
      kind: "move",
      cursor: 86_400,
      view: end,
    });
  });

  it("Enter and Space play from the cursor", () => {
    expect(timelineKey("Enter", { view, bounds, cursor: 40_000, playing: 39_000 })).toEqual({
      kind: "play",
      moment: 40_000,
    });
    expect(timelineKey(" ", { view, bounds, cursor: null, playing: null })).toEqual({ kind: "play", moment: 36_000 });
  });

  it("+ (or =) and - zoom around the cursor", () => {
    const zoomIn = timelineKey("+", { view, bounds, cursor: 41_000, playing: null });
    expect(zoomIn).toEqual({ kind: "zoom", view: { start: 38_500, end: 43_500 } });
    expect(timelineKey("=", { view, bounds, cursor: 41_000, playing: null })).toEqual(zoomIn);
    expect(timelineKey("-", { view, bounds, cursor: 41_000, playing: null })).toEqual({
      kind: "zoom",
      view: { start: 31_000, end: 51_000 },
    });
    // At the closest zoom the view stays that long, with the cursor in it.
    const closest = { start: 1000, end: 1000 + MIN_VIEW_SECONDS };
    const action = timelineKey("+", { view: closest, bounds, cursor: 1060, playing: null });
    expect(action?.kind).toBe("zoom");
    const zoomed = action?.kind === "zoom" ? action.view : closest;
    expect(zoomed.end - zoomed.start).toBe(MIN_VIEW_SECONDS);
    expect(zoomed.start <= 1060 && 1060 <= zoomed.end).toBe(true);
  });

  it("other keys do nothing (Tab leaves the timeline)", () => {
    for (const key of ["Tab", "a", "ArrowUp", "Escape"]) {
      expect(timelineKey(key, { view, bounds, cursor: 40_000, playing: null })).toBeNull();
    }
  });
});

describe("following the playhead", () => {
  const bounds = { start: 0, end: 86_400 };
  const view = { start: 36_000, end: 46_000 };

  it("the view stays while the playhead is in it", () => {
    expect(followPlayhead(view, bounds, 40_000)).toBe(view);
    expect(followPlayhead(view, bounds, 46_000)).toBe(view);
  });

  it("past the right edge the view moves so the playhead is at 90 %", () => {
    expect(followPlayhead(view, bounds, 46_500)).toEqual({ start: 37_500, end: 47_500 });
  });

  it("not past the end of the day", () => {
    expect(followPlayhead({ start: 76_000, end: 86_000 }, bounds, 86_300)).toEqual({ start: 76_400, end: 86_400 });
  });
});

describe("the event on screen (administrators may delete it)", () => {
  const ev = (id: number, kind: string, start: number, end: number | null) => ({ id, kind, label: `e${id}`, start, end });
  const events = [ev(1, "event", 100, 200), ev(2, "manual", 150, 400), ev(3, "event", 180, 260), ev(4, "event", 500, null)];

  it("the last started event holding the moment; manual recordings are not events", () => {
    expect(currentEvent(events, 120, 1000)?.id).toBe(1);
    expect(currentEvent(events, 190, 1000)?.id).toBe(3); // 1 and 3 overlap: the later one
    expect(currentEvent(events, 300, 1000)).toBeNull(); // only the manual recording
    expect(currentEvent(events, 260, 1000)?.id).toBe(3); // the end is included
  });

  it("a running event lasts until now; nothing playing, nothing to delete", () => {
    expect(currentEvent(events, 900, 1000)?.id).toBe(4);
    expect(currentEvent(events, 1100, 1000)).toBeNull();
    expect(currentEvent(events, null, 1000)).toBeNull();
  });
});
