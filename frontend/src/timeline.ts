/**
 * Timeline logic of the CCTV panel: local days in Home Assistant's time zone (23, 24 or 25
 * hours), zoom and pan, layout of coverage, gaps and events in pixels, ticks, and the mapping
 * between the playlist's media time (gaps removed) and wall-clock time.
 *
 * Pure functions, no DOM: unit-tested with Vitest. All moments are epoch seconds (UTC).
 */

import type { Range, TimelineData, TimelineEvent } from "./data/timeline";

// The answer of `cctv_nvr/timeline` is typed in data/timeline.ts; the logic here works on it.
export type { Range, TimelineData, TimelineEvent };

export interface View {
  start: number;
  end: number;
}

export interface Bar {
  start: number;
  end: number;
  x: number;
  width: number;
}

export interface EventBox extends Bar {
  event: TimelineEvent;
  lane: number;
}

export interface Tick {
  time: number;
  x: number;
  label: string;
}

/** The closest zoom: a few minutes across the whole width. */
export const MIN_VIEW_SECONDS = 120;

const partsCache = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let fmt = partsCache.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    partsCache.set(timeZone, fmt);
  }
  return fmt;
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The wall-clock fields of a moment in a time zone. */
export function localParts(time: number, timeZone: string): LocalParts {
  const out: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(Math.floor(time) * 1000))) {
    if (part.type !== "literal") out[part.type] = Number(part.value);
  }
  return {
    year: out.year,
    month: out.month,
    day: out.day,
    hour: out.hour % 24,
    minute: out.minute,
    second: out.second,
  };
}

/** Seconds the zone is ahead of UTC at a moment (e.g. 3600 for CET). */
export function zoneOffset(time: number, timeZone: string): number {
  const p = localParts(time, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) / 1000;
  return asUtc - Math.floor(time);
}

function parseDate(date: string): [number, number, number] {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) throw new Error(`not a date: ${date}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** The moment a local wall-clock time happens (the first one if it happens twice). */
export function localMoment(
  year: number,
  month: number,
  day: number,
  timeZone: string,
  hour = 0,
): number {
  const wall = Date.UTC(year, month - 1, day, hour) / 1000;
  // Two passes settle the offset; near a change try both offsets and keep the earliest match.
  const candidates = [wall - zoneOffset(wall, timeZone)];
  candidates.push(wall - zoneOffset(candidates[0], timeZone));
  candidates.push(wall - zoneOffset(wall - 86400, timeZone), wall - zoneOffset(wall + 86400, timeZone));
  const exact = candidates.filter((t) => t + zoneOffset(t, timeZone) === wall).sort((a, b) => a - b);
  // A wall time skipped by a spring-forward change: take the moment the clocks jumped.
  return exact.length ? exact[0] : Math.min(...candidates);
}

/** The bounds of a local day ("YYYY-MM-DD"): 23, 24 or 25 hours long. */
export function dayBounds(date: string, timeZone: string): View {
  const [year, month, day] = parseDate(date);
  const next = new Date(Date.UTC(year, month - 1, day + 1));
  return {
    start: localMoment(year, month, day, timeZone),
    end: localMoment(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone),
  };
}

/** The number of hours of a local day. */
export function hoursInDay(date: string, timeZone: string): number {
  const { start, end } = dayBounds(date, timeZone);
  return Math.round((end - start) / 3600);
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** The local date ("YYYY-MM-DD") of a moment. */
export function localDate(time: number, timeZone: string): string {
  const p = localParts(time, timeZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** A date some days before or after another. */
export function addDays(date: string, days: number): string {
  const [year, month, day] = parseDate(date);
  const moved = new Date(Date.UTC(year, month - 1, day + days));
  return `${moved.getUTCFullYear()}-${pad(moved.getUTCMonth() + 1)}-${pad(moved.getUTCDate())}`;
}

/** "HH:MM:SS" (or "HH:MM:SS.mmm") in a time zone. */
export function formatClock(time: number, timeZone: string, millis = false): string {
  const p = localParts(time, timeZone);
  const base = `${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
  if (!millis) return base;
  const ms = Math.floor(Math.round((time - Math.floor(time)) * 1000));
  return `${base}.${pad(Math.min(ms, 999), 3)}`;
}

/** Keep a view inside the bounds, at least MIN_VIEW_SECONDS and at most the bounds long. */
export function clampView(view: View, bounds: View): View {
  const total = bounds.end - bounds.start;
  let length = Math.min(Math.max(view.end - view.start, Math.min(MIN_VIEW_SECONDS, total)), total);
  let start = Math.min(Math.max(view.start, bounds.start), bounds.end - length);
  if (!Number.isFinite(start)) start = bounds.start;
  length = Math.max(length, 0);
  return { start, end: start + length };
}

/** Zoom by a factor (< 1 zooms in) keeping the moment `center` at the same place. */
export function zoomView(view: View, bounds: View, factor: number, center?: number): View {
  const pivot = center ?? (view.start + view.end) / 2;
  const ratio = (pivot - view.start) / (view.end - view.start);
  const length = (view.end - view.start) * factor;
  return clampView({ start: pivot - ratio * length, end: pivot - ratio * length + length }, bounds);
}

/** Move a view by some seconds. */
export function panView(view: View, bounds: View, seconds: number): View {
  return clampView({ start: view.start + seconds, end: view.end + seconds }, bounds);
}

export function xOf(time: number, view: View, width: number): number {
  return ((time - view.start) / (view.end - view.start)) * width;
}

export function timeOf(x: number, view: View, width: number): number {
  return view.start + (Math.min(Math.max(x, 0), width) / width) * (view.end - view.start);
}

/** Ranges clipped to the view, in pixels; each at least `minWidth` wide so short gaps stay visible. */
export function layoutRanges(ranges: Range[], view: View, width: number, minWidth = 1): Bar[] {
  const bars: Bar[] = [];
  for (const [start, end] of ranges) {
    if (end <= view.start || start >= view.end) continue;
    const lo = Math.max(start, view.start);
    const hi = Math.min(end, view.end);
    const x = xOf(lo, view, width);
    const w = Math.max(xOf(hi, view, width) - x, minWidth);
    bars.push({ start: lo, end: hi, x, width: w });
  }
  return bars;
}

/** Events in pixels, each on the first lane where it does not overlap an earlier one. */
export function layoutEvents(
  events: TimelineEvent[],
  view: View,
  width: number,
  now: number,
  minWidth = 6,
): EventBox[] {
  const laneEnds: number[] = [];
  const boxes: EventBox[] = [];
  const sorted = [...events].sort((a, b) => a.start - b.start);
  for (const event of sorted) {
    const end = event.end ?? now;
    if (end <= view.start || event.start >= view.end) continue;
    const lo = Math.max(event.start, view.start);
    const hi = Math.min(Math.max(end, lo), view.end);
    const x = xOf(lo, view, width);
    const w = Math.max(xOf(hi, view, width) - x, minWidth);
    let lane = laneEnds.findIndex((right) => right <= x);
    if (lane === -1) {
      lane = laneEnds.length;
      laneEnds.push(0);
    }
    laneEnds[lane] = x + w + 2;
    boxes.push({ start: lo, end: hi, x, width: w, event, lane });
  }
  return boxes;
}

const TICK_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];

/** Ticks on round local times, at least `minSpacing` pixels apart. */
export function ticks(view: View, timeZone: string, width: number, minSpacing = 64): Tick[] {
  const length = view.end - view.start;
  const step =
    TICK_STEPS.find((s) => (s / length) * width >= minSpacing) ?? TICK_STEPS[TICK_STEPS.length - 1];
  const grain = Math.min(step, 900); // zone offsets are multiples of 15 minutes
  const out: Tick[] = [];
  for (let t = Math.ceil(view.start / grain) * grain; t < view.end; t += grain) {
    const p = localParts(t, timeZone);
    const secondOfDay = p.hour * 3600 + p.minute * 60 + p.second;
    if (secondOfDay % step !== 0) continue;
    out.push({ time: t, x: xOf(t, view, width), label: `${pad(p.hour)}:${pad(p.minute)}` });
  }
  return out;
}

/** The event starting before (dir -1) or after (dir +1) a moment. */
export function adjacentEvent(
  events: TimelineEvent[],
  time: number,
  dir: -1 | 1,
): TimelineEvent | null {
  const sorted = [...events].sort((a, b) => a.start - b.start);
  if (dir > 0) return sorted.find((e) => e.start > time + 0.5) ?? null;
  // "Previous" skips the event just started (within 2 s), like a player's previous track.
  const before = sorted.filter((e) => e.start < time - 2);
  return before.length ? before[before.length - 1] : null;
}

/** Where playback of a moment starts: the moment itself, or the next footage after a gap. */
export function playableFrom(spans: Range[], time: number): number | null {
  for (const [start, end] of spans) {
    if (time < start) return start;
    if (time < end) return time;
  }
  return null;
}

/**
 * The wall-clock moment of a media time of a playlist that starts at `origin` and plays the
 * spans one after the other (gaps removed).
 */
export function mediaToWall(spans: Range[], origin: number, media: number): number {
  let left = media;
  let last = origin;
  for (const [start, end] of spans) {
    if (end <= origin) continue;
    const lo = Math.max(start, origin);
    if (left <= end - lo) return lo + left;
    left -= end - lo;
    last = end;
  }
  return last + left;
}

/** The media time of a wall-clock moment (inverse of mediaToWall; a gap maps to its end). */
export function wallToMedia(spans: Range[], origin: number, wall: number): number {
  let media = 0;
  for (const [start, end] of spans) {
    if (end <= origin) continue;
    const lo = Math.max(start, origin);
    if (wall < lo) return media;
    if (wall <= end) return media + (wall - lo);
    media += end - lo;
  }
  return media;
}

/** A selection as an ordered range inside the bounds (null if shorter than a second). */
export function normalizeSelection(a: number, b: number, bounds: View): Range | null {
  const lo = Math.max(Math.min(a, b), bounds.start);
  const hi = Math.min(Math.max(a, b), bounds.end);
  return hi - lo >= 1 ? [lo, hi] : null;
}

/** "1.5 GB", "12 MB" (powers of 1000, as Home Assistant shows sizes). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** "1:02:03" or "2:03". */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}
