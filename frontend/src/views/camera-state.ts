/**
 * What the camera view and its timeline bar decide, as pure functions (unit-tested with Vitest):
 * the range a playback asks for, the selectable range, the selection buttons, the keyboard on the
 * timeline, following the playhead, the event on screen. All moments are epoch seconds.
 */
import {
  type Range,
  type TimelineData,
  type TimelineEvent,
  type View,
  clampView,
  localDate,
  normalizeSelection,
  panView,
  playableFrom,
  zoomView,
} from "../timeline";

/**
 * The most a playback asks for at once: an hour (the playlist's own limit is a day). A day's
 * playlist (8,640 segments, over a megabyte with its signed URLs) took most of the time from a
 * click to the first frame (scripts/bench section 14); the player asks for the next hour when
 * one ends (continueFrom).
 */
const MAX_PLAYBACK_SECONDS = 3600;

/** The bounds of the loaded day (zoom and pan stay inside). */
export function dayView(timeline: TimelineData): View {
  return { start: timeline.start, end: timeline.end };
}

/** Where a selection may lie: the day, up to now. */
export function selectableView(timeline: TimelineData, now: number): View {
  return { start: timeline.start, end: Math.min(timeline.end, now) };
}

/** The dates the date picker offers: from the day of the oldest footage (or today) to today. */
export function dateLimits(timeline: TimelineData | null, zone: string, now: number): { first: string; today: string } {
  const today = localDate(now, zone);
  return { first: timeline?.first ? localDate(timeline.first, zone) : today, today };
}

/**
 * The whole seconds a playback from `from` asks for: to the end of the day, but not beyond now
 * (at least a second) nor an hour; the integration signs the playlist of that range.
 */
export function playbackRange(timeline: TimelineData, from: number): { start: number; end: number } {
  const end = Math.min(timeline.end, Math.max(timeline.now, from + 1), from + MAX_PLAYBACK_SECONDS);
  const start = Math.floor(from);
  return { start, end: Math.max(Math.ceil(end), start + 1) };
}

/**
 * Where playback goes on when a playlist ending at `last` (its last segment's end) has played
 * out: the footage from there (after a gap: the next footage) on the same day, up to now; null
 * at the end of the day's footage.
 */
export function continueFrom(timeline: TimelineData, last: number): number | null {
  const next = playableFrom(timeline.spans, last);
  return next !== null && next < Math.min(timeline.end, timeline.now) ? next : null;
}

/**
 * The selection buttons: "start" (0) or "end" (1) of the selection at a moment, keeping the
 * other end if there is a selection (at least a second long), inside the bounds.
 */
export function markSelection(selection: Range | null, at: number, which: 0 | 1, bounds: View): Range | null {
  const [a, b] = selection ?? [at, at];
  return which === 0
    ? normalizeSelection(at, Math.max(b, at + 1), bounds)
    : normalizeSelection(Math.min(a, at - 1), at, bounds);
}

export interface TimelineKeyState {
  view: View;
  bounds: View; // the day
  cursor: number | null; // the keyboard cursor
  playing: number | null;
}

/** What a key on the focused timeline does. */
export type TimelineKeyAction =
  | { kind: "move"; cursor: number; view: View } // arrows: move the cursor, keep it in view
  | { kind: "play"; moment: number } // Enter or Space: play from the cursor
  | { kind: "zoom"; view: View } // + (or =) and -: zoom around the cursor
  | null;

/** The arrow keys move the cursor by a fiftieth of the view; the cursor starts where playback is. */
export function timelineKey(key: string, state: TimelineKeyState): TimelineKeyAction {
  const { view, bounds } = state;
  const length = view.end - view.start;
  const cursor = state.cursor ?? state.playing ?? view.start;
  if (key === "ArrowLeft" || key === "ArrowRight") {
    const moved = cursor + (key === "ArrowLeft" ? -length / 50 : length / 50);
    const next = Math.min(Math.max(moved, bounds.start), bounds.end);
    const shown =
      next < view.start || next > view.end
        ? clampView({ start: next - length / 2, end: next + length / 2 }, bounds)
        : view;
    return { kind: "move", cursor: next, view: shown };
  }
  if (key === "Enter" || key === " ") return { kind: "play", moment: cursor };
  if (key === "+" || key === "=") return { kind: "zoom", view: zoomView(view, bounds, 0.5, cursor) };
  if (key === "-") return { kind: "zoom", view: zoomView(view, bounds, 2, cursor) };
  return null;
}

/** While playing past the right edge, the view moves along (the playhead lands at 90 %). */
export function followPlayhead(view: View, bounds: View, playing: number): View {
  if (playing <= view.end) return view;
  return panView(view, bounds, playing - view.end + (view.end - view.start) * 0.1);
}

/**
 * The event recording being shown at a moment (the one started last, if several overlap; a
 * running one lasts until now), which administrators may delete; manual recordings are not
 * events.
 */
export function currentEvent(events: TimelineEvent[], moment: number | null, now: number): TimelineEvent | null {
  if (moment === null) return null;
  let found: TimelineEvent | null = null;
  for (const event of events) {
    if (event.kind !== "event") continue;
    const end = event.end ?? now;
    if (event.start <= moment && moment <= end && (!found || event.start > found.start)) found = event;
  }
  return found;
}
