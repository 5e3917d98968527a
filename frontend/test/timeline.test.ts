import { describe, expect, it } from "vitest";
import {
  MIN_VIEW_SECONDS,
  addDays,
  adjacentEvent,
  dayBounds,
  formatBytes,
  formatClock,
  formatDuration,
  hoursInDay,
  layoutEvents,
  layoutRanges,
  localDate,
  mediaToWall,
  normalizeSelection,
  panView,
  playableFrom,
  ticks,
  timeOf,
  wallToMedia,
  xOf,
  zoneOffset,
  zoomView,
  type TimelineEvent,
} from "../src/timeline";

const AMS = "Europe/Amsterdam";
const NY = "America/New_York";
const utc = (iso: string): number => Date.parse(iso) / 1000;

describe("local days in a time zone", () => {
  it("an ordinary day is 24 hours from local midnight", () => {
    expect(dayBounds("2026-06-15", AMS)).toEqual({
      start: utc("2026-06-14T22:00:00Z"),
      end: utc("2026-06-15T22:00:00Z"),
    });
    expect(hoursInDay("2026-06-15", AMS)).toBe(24);
    expect(dayBounds("2026-01-15", "UTC").start).toBe(utc("2026-01-15T00:00:00Z"));
    expect(dayBounds("2026-01-15", "Asia/Kolkata").start).toBe(utc("2026-01-14T18:30:00Z"));
  });

  it("the spring-forward day has 23 hours", () => {
    expect(dayBounds("2026-03-29", AMS)).toEqual({
      start: utc("2026-03-28T23:00:00Z"),
      end: utc("2026-03-29T22:00:00Z"),
    });
    expect(hoursInDay("2026-03-29", AMS)).toBe(23);
    expect(hoursInDay("2026-03-08", NY)).toBe(23);
  });

  it("the fall-back day has 25 hours", () => {
    expect(dayBounds("2026-10-25", AMS)).toEqual({
      start: utc("2026-10-24T22:00:00Z"),
      end: utc("2026-10-25T23:00:00Z"),
    });
    expect(hoursInDay("2026-10-25", AMS)).toBe(25);
    expect(dayBounds("2026-11-01", NY)).toEqual({
      start: utc("2026-11-01T04:00:00Z"),
      end: utc("2026-11-02T05:00:00Z"),
    });
  });

  it("dates and offsets", () => {
    expect(zoneOffset(utc("2026-07-01T12:00:00Z"), AMS)).toBe(7200);
    expect(zoneOffset(utc("2026-12-01T12:00:00Z"), AMS)).toBe(3600);
    expect(localDate(utc("2026-06-14T22:00:00Z"), AMS)).toBe("2026-06-15");
    expect(localDate(utc("2026-06-14T21:59:59Z"), AMS)).toBe("2026-06-14");
    expect(addDays("2026-02-28", 1)).toBe("2026-03-01");
    expect(addDays("2026-01-01", -1)).toBe("2025-12-31");
    expect(() => dayBounds("yesterday", AMS)).toThrow();
  });

  it("clock time with milliseconds in the zone", () => {
    expect(formatClock(utc("2026-06-15T10:20:30Z") + 0.25, AMS, true)).toBe("12:20:30.250");
    expect(formatClock(utc("2026-06-15T10:20:30Z"), NY)).toBe("06:20:30");
  });
});

describe("ticks", () => {
  it("an hourly scale on the fall-back day shows 02:00 twice, 25 ticks", () => {
    const day = dayBounds("2026-10-25", AMS);
    const marks = ticks(day, AMS, 2500, 80);
    expect(marks.length).toBe(25);
    expect(marks.filter((m) => m.label === "02:00").length).toBe(2);
    expect(marks[0]).toMatchObject({ label: "00:00", x: 0 });
  });

  it("an hourly scale on the spring-forward day skips 02:00, 23 ticks", () => {
    const day = dayBounds("2026-03-29", AMS);
    const marks = ticks(day, AMS, 2300, 80);
    expect(marks.map((m) => m.label)).not.toContain("02:00");
    expect(marks.length).toBe(23);
  });

  it("the step follows the zoom: coarse for a day, minutes when zoomed in", () => {
    const day = dayBounds("2026-06-15", AMS);
    const coarse = ticks(day, AMS, 600, 64);
    expect(coarse.map((m) => m.label)).toEqual(["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"]);
    const tenMinutes = { start: day.start + 3600, end: day.start + 4200 };
    const fine = ticks(tenMinutes, AMS, 1000, 64);
    expect(fine.map((m) => m.label)).toEqual(["01:00", "01:01", "01:02", "01:03", "01:04", "01:05", "01:06", "01:07", "01:08", "01:09"]);
  });
});

describe("layout", () => {
  const view = { start: 1000, end: 2000 };

  it("maps times to pixels and back", () => {
    expect(xOf(1500, view, 1000)).toBe(500);
    expect(timeOf(250, view, 1000)).toBe(1250);
    expect(timeOf(-5, view, 1000)).toBe(1000);
    expect(timeOf(5000, view, 1000)).toBe(2000);
  });

  it("clips ranges to the view and keeps short gaps visible", () => {
    const bars = layoutRanges(
      [
        [500, 900],
        [900, 1200],
        [1500, 1500.1],
        [1900, 2500],
      ],
      view,
      1000,
      2,
    );
    expect(bars).toEqual([
      { start: 1000, end: 1200, x: 0, width: 200 },
      { start: 1500, end: 1500.1, x: 500, width: 2 },
      { start: 1900, end: 2000, x: 900, width: 100 },
    ]);
  });

  it("puts overlapping events on separate lanes; an open event runs to now", () => {
    const events: TimelineEvent[] = [
      { id: 1, kind: "event", label: "motion", start: 1100, end: 1300 },
      { id: 2, kind: "manual", label: null, start: 1200, end: 1250 },
      { id: 3, kind: "event", label: "door", start: 1400, end: null },
      { id: 4, kind: "event", label: "old", start: 100, end: 200 },
    ];
    const boxes = layoutEvents(events, view, 1000, 1600);
    expect(boxes.map((b) => [b.event.id, b.lane])).toEqual([
      [1, 0],
      [2, 1],
      [3, 0],
    ]);
    expect(boxes[2]).toMatchObject({ x: 400, width: 200 });
  });
});

describe("zoom and pan", () => {
  const bounds = { start: 0, end: 86400 };

  it("zooms around a moment and never past a few minutes or the day", () => {
    const zoomed = zoomView(bounds, bounds, 0.5, 43200);
    expect(zoomed).toEqual({ start: 21600, end: 64800 });
    let view = bounds;
    for (let i = 0; i < 30; i += 1) view = zoomView(view, bounds, 0.5, 1000);
    expect(view.end - view.start).toBe(MIN_VIEW_SECONDS);
    expect(view.start).toBeLessThanOrEqual(1000);
    expect(view.end).toBeGreaterThanOrEqual(1000);
    expect(zoomView(view, bounds, 1e6)).toEqual(bounds);
  });

  it("pans inside the day", () => {
    const view = { start: 3600, end: 7200 };
    expect(panView(view, bounds, -10000)).toEqual({ start: 0, end: 3600 });
    expect(panView(view, bounds, 1e6)).toEqual({ start: 82800, end: 86400 });
  });
});

describe("playback over gaps", () => {
  const spans: [number, number][] = [
    [100, 200],
    [260, 300],
    [400, 450],
  ];

  it("media time skips the gaps", () => {
    expect(mediaToWall(spans, 150, 0)).toBe(150);
    expect(mediaToWall(spans, 150, 50)).toBe(200);
    expect(mediaToWall(spans, 150, 60)).toBe(270);
    expect(mediaToWall(spans, 150, 95)).toBe(405);
    expect(wallToMedia(spans, 150, 270)).toBe(60);
    expect(wallToMedia(spans, 150, 230)).toBe(50); // in a gap: where the footage goes on
    for (const media of [0, 10, 49.5, 77, 120]) {
      expect(wallToMedia(spans, 150, mediaToWall(spans, 150, media))).toBeCloseTo(media);
    }
  });

  it("a click in a gap plays from the next footage", () => {
    expect(playableFrom(spans, 50)).toBe(100);
    expect(playableFrom(spans, 150)).toBe(150);
    expect(playableFrom(spans, 220)).toBe(260);
    expect(playableFrom(spans, 460)).toBeNull();
  });

  it("previous and next event", () => {
    const events: TimelineEvent[] = [
      { id: 1, kind: "event", label: "a", start: 120, end: 130 },
      { id: 2, kind: "event", label: "b", start: 280, end: 290 },
    ];
    expect(adjacentEvent(events, 150, 1)?.id).toBe(2);
    expect(adjacentEvent(events, 150, -1)?.id).toBe(1);
    expect(adjacentEvent(events, 281, -1)?.id).toBe(1); // just started: the one before
    expect(adjacentEvent(events, 300, 1)).toBeNull();
    expect(adjacentEvent(events, 100, -1)).toBeNull();
  });

  it("selections are ordered, inside the day and at least a second", () => {
    expect(normalizeSelection(500, 200, { start: 300, end: 1000 })).toEqual([300, 500]);
    expect(normalizeSelection(10, 10.5, { start: 0, end: 100 })).toBeNull();
  });
});

describe("formatting", () => {
  it("sizes and durations", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1_500_000)).toBe("1.5 MB");
    expect(formatBytes(250_000_000_000)).toBe("250 GB");
    expect(formatBytes(null)).toBe("–");
    expect(formatDuration(59.6)).toBe("1:00");
    expect(formatDuration(3723)).toBe("1:02:03");
  });
});
