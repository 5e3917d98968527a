/**
 * What the Access view edits, as pure functions (unit-tested with Vitest): a grant being edited
 * (a draft with the look-back as typed), its checks before it is sent (the integration checks
 * again and answers translated errors), and the short texts of rights, days and windows.
 */
import type { AccessUser, AccessWindow, CameraAccess, Day, Grant, Right, UserGrant } from "../data/access";
import type { StringKey } from "../strings";

export const RIGHTS: readonly Right[] = ["live", "recordings", "export", "control"];
export const DAYS: readonly Day[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/** The integration's bounds (websocket_api/access.py). */
export const MAX_WINDOWS = 14;
export const MAX_LOOKBACK_HOURS = 24 * 3650;

const RIGHT_KEYS: Record<Right, StringKey> = {
  live: "right_live",
  recordings: "right_recordings",
  export: "right_export",
  control: "right_control",
};

const DAY_KEYS: Record<Day, StringKey> = {
  mon: "day_mon",
  tue: "day_tue",
  wed: "day_wed",
  thu: "day_thu",
  fri: "day_fri",
  sat: "day_sat",
  sun: "day_sun",
};

/** The string key of a right's name. */
export const rightKey = (right: Right): StringKey => RIGHT_KEYS[right];

/** The string key of a day's short name. */
export const dayKey = (day: Day): StringKey => DAY_KEYS[day];

/** A grant as its form holds it: the look-back as typed ("" = all footage). */
export interface GrantDraft {
  user_id: string;
  rights: Right[];
  windows: AccessWindow[];
  lookback: string;
}

export type DraftError =
  | { key: "err_no_user" }
  | { key: "err_no_rights" }
  | { key: "err_window_no_days"; number: number }
  | { key: "err_window_bad_time"; number: number }
  | { key: "err_too_many_windows"; count: number }
  | { key: "err_lookback"; max: number };

export function newDraft(userId = ""): GrantDraft {
  return { user_id: userId, rights: [], windows: [], lookback: "" };
}

export function draftOf(grant: UserGrant): GrantDraft {
  return {
    user_id: grant.user_id,
    rights: [...grant.rights],
    windows: grant.windows.map((w) => ({ days: [...w.days], start: w.start, end: w.end })),
    lookback: grant.lookback_hours === null ? "" : String(grant.lookback_hours),
  };
}

/** A window a new row starts with: working days, office hours. */
export function newWindow(): AccessWindow {
  return { days: ["mon", "tue", "wed", "thu", "fri"], start: "08:00", end: "18:00" };
}

/** A list with an item put in or taken out, kept in the canonical order. */
export function toggled<T extends string>(list: readonly T[], item: T, on: boolean, order: readonly T[]): T[] {
  const set = new Set(list);
  if (on) set.add(item);
  else set.delete(item);
  return order.filter((x) => set.has(x));
}

/** Minutes after midnight of "HH:MM" (what `<input type="time">` gives), or null. */
export function parseClock(text: string): number | null {
  const match = /^(\d{2}):(\d{2})$/.exec(text.trim());
  if (!match) return null;
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  return hours < 24 && minutes < 60 ? hours * 60 + minutes : null;
}

/** A window whose end is not after its start runs across midnight into the next day. */
export function isOvernight(window: AccessWindow): boolean {
  const start = parseClock(window.start);
  const end = parseClock(window.end);
  return start !== null && end !== null && end <= start;
}

/** The look-back as typed: null for empty (all footage), a number of hours, or NaN when bad. */
export function parseLookback(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const hours = Number(trimmed);
  return Number.isFinite(hours) && hours >= 1 && hours <= MAX_LOOKBACK_HOURS ? hours : Number.NaN;
}

/** The grant a draft describes, or what is wrong with it (every problem, in form order). */
export function checkDraft(draft: GrantDraft): { grant: Grant; errors: [] } | { grant: null; errors: DraftError[] } {
  const errors: DraftError[] = [];
  if (!draft.user_id) errors.push({ key: "err_no_user" });
  if (!draft.rights.length) errors.push({ key: "err_no_rights" });
  draft.windows.forEach((window, i) => {
    if (!window.days.length) errors.push({ key: "err_window_no_days", number: i + 1 });
    if (parseClock(window.start) === null || parseClock(window.end) === null) {
      errors.push({ key: "err_window_bad_time", number: i + 1 });
    }
  });
  if (draft.windows.length > MAX_WINDOWS) errors.push({ key: "err_too_many_windows", count: MAX_WINDOWS });
  const lookback = parseLookback(draft.lookback);
  if (lookback !== null && Number.isNaN(lookback)) errors.push({ key: "err_lookback", max: MAX_LOOKBACK_HOURS });
  if (errors.length) return { grant: null, errors };
  return {
    grant: {
      rights: RIGHTS.filter((r) => draft.rights.includes(r)),
      windows: draft.windows.map((w) => ({
        days: DAYS.filter((d) => w.days.includes(d)),
        start: w.start.trim(),
        end: w.end.trim(),
      })),
      lookback_hours: lookback,
    },
    errors: [],
  };
}

/** The non-admin users who have no grant on the camera yet (for a new grant). */
export function usersWithoutGrant(users: AccessUser[], camera: CameraAccess): AccessUser[] {
  const taken = new Set(camera.grants.map((g) => g.user_id));
  return users.filter((u) => !taken.has(u.id));
}

/**
 * Days as short text: runs of three or more consecutive days as a range ("Mon–Fri"), others
 * listed ("Sat, Sun"); all seven as `everyDay`.
 */
export function daysText(days: readonly Day[], name: (day: Day) => string, everyDay: string): string {
  const set = new Set(days);
  if (set.size === DAYS.length) return everyDay;
  const parts: string[] = [];
  let i = 0;
  while (i < DAYS.length) {
    if (!set.has(DAYS[i])) {
      i += 1;
      continue;
    }
    let j = i;
    while (j + 1 < DAYS.length && set.has(DAYS[j + 1])) j += 1;
    if (j - i >= 2) parts.push(`${name(DAYS[i])}–${name(DAYS[j])}`);
    else for (let k = i; k <= j; k += 1) parts.push(name(DAYS[k]));
    i = j + 1;
  }
  return parts.join(", ");
}

/** One window as short text: "Mon–Fri 22:00–06:00 (ends the next day)". */
export function windowText(
  window: AccessWindow,
  name: (day: Day) => string,
  everyDay: string,
  overnight: string,
): string {
  const text = `${daysText(window.days, name, everyDay)} ${window.start}–${window.end}`;
  return isOvernight(window) ? `${text} (${overnight})` : text;
}
