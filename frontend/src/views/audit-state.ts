/**
 * What the Audit view decides, as pure functions (unit-tested with Vitest): the days it may ask
 * for (at most 31, the integration's limit), the filter it sends, the words of an action and
 * the users its filter offers.
 */
import type { AccessUser } from "../data/access";
import type { AuditAction, AuditFilter, AuditRecord } from "../data/audit";
import type { StringKey } from "../strings";

export const MAX_AUDIT_DAYS = 31;

export type AuditRangeError =
  | { key: "err_audit_dates" }
  | { key: "err_audit_reversed" }
  | { key: "err_audit_too_long"; days: number };

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The local days from `from` to `to`, both included (calendar days: no clock changes). */
export function dayCount(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86400000) + 1;
}

/** What is wrong with a range of days, or null. */
export function auditRangeError(from: string, to: string): AuditRangeError | null {
  if (!DATE.test(from) || !DATE.test(to) || Number.isNaN(Date.parse(from)) || Number.isNaN(Date.parse(to))) {
    return { key: "err_audit_dates" };
  }
  const days = dayCount(from, to);
  if (days < 1) return { key: "err_audit_reversed" };
  if (days > MAX_AUDIT_DAYS) return { key: "err_audit_too_long", days: MAX_AUDIT_DAYS };
  return null;
}

/** The filter `cctv_nvr/audit` gets ("" for a user or camera: all). */
export function auditFilter(from: string, to: string, userId: string, camera: string): AuditFilter {
  return {
    from,
    ...(to && to !== from ? { to } : {}),
    ...(userId ? { user_id: userId } : {}),
    ...(camera ? { camera } : {}),
  };
}

const ACTIONS: Record<AuditAction, StringKey> = {
  watched: "action_watched",
  watched_live: "action_watched_live",
  exported: "action_exported",
  downloaded: "action_downloaded",
  protected: "action_protected",
  unprotected: "action_unprotected",
  deleted: "action_deleted",
  export_deleted: "action_export_deleted",
  event_deleted: "action_event_deleted",
  access_changed: "action_access_changed",
};

/** The string key of an action (null for one this panel does not know yet: shown as it is). */
export function actionKey(action: string): StringKey | null {
  return Object.prototype.hasOwnProperty.call(ACTIONS, action) ? ACTIONS[action as AuditAction] : null;
}

/**
 * The users the filter offers: those grants are for, and everyone seen in the records so far
 * (administrators too), by name; `known` keeps them across loads.
 */
export function auditUsers(known: Map<string, string>, users: AccessUser[], records: AuditRecord[]): AccessUser[] {
  for (const user of users) known.set(user.id, user.name);
  for (const record of records) {
    if (record.user_id && !known.has(record.user_id)) known.set(record.user_id, record.user ?? record.user_id);
  }
  return [...known]
    .map(([id, name]) => ({ id, name }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}
