import { describe, expect, it } from "vitest";
import type { AuditRecord } from "../src/data/audit";
import { localize } from "../src/strings";
import { MAX_AUDIT_DAYS, actionKey, auditFilter, auditRangeError, auditUsers, dayCount } from "../src/views/audit-state";

const record = (extra: Partial<AuditRecord>): AuditRecord => ({
  ts: 1,
  user_id: null,
  user: null,
  camera: "driveway",
  action: "watched",
  start: null,
  end: null,
  detail: null,
  ...extra,
});

describe("the days the audit view asks for", () => {
  it("counts calendar days, both ends included (a day when the clocks change is one day)", () => {
    expect(dayCount("2026-06-03", "2026-06-03")).toBe(1);
    expect(dayCount("2026-03-01", "2026-03-31")).toBe(31); // 29 March: 23 hours in Europe
    expect(dayCount("2026-10-25", "2026-10-26")).toBe(2);
    expect(dayCount("2026-12-31", "2027-01-01")).toBe(2);
  });

  it("at most 31 days, the first not after the last", () => {
    expect(auditRangeError("2026-03-01", "2026-03-31")).toBeNull();
    expect(auditRangeError("2026-03-01", "2026-04-01")).toEqual({ key: "err_audit_too_long", days: MAX_AUDIT_DAYS });
    expect(auditRangeError("2026-06-04", "2026-06-03")).toEqual({ key: "err_audit_reversed" });
    expect(auditRangeError("", "2026-06-03")).toEqual({ key: "err_audit_dates" });
    expect(auditRangeError("2026-06-03", "June")).toEqual({ key: "err_audit_dates" });
    expect(localize("en", "err_audit_too_long", { days: 31 })).toBe("Choose at most 31 days.");
  });

  it("sends the last day, user and camera only when they narrow the selection", () => {
    expect(auditFilter("2026-06-03", "2026-06-03", "", "")).toEqual({ from: "2026-06-03" });
    expect(auditFilter("2026-06-01", "2026-06-03", "u1", "garden")).toEqual({
      from: "2026-06-01",
      to: "2026-06-03",
      user_id: "u1",
      camera: "garden",
    });
  });
});

describe("what the table and the filter show", () => {
  it("every action the integration records has words; an unknown one is shown as it is", () => {
    const actions = [
      "watched",
      "exported",
      "downloaded",
      "protected",
      "unprotected",
      "deleted",
      "export_deleted",
      "event_deleted",
      "access_changed",
    ];
    const words = actions.map((a) => actionKey(a));
    expect(words.every((key) => key !== null)).toBe(true);
    expect(new Set(words.map((key) => localize("en", key!))).size).toBe(actions.length);
    expect(localize("en", actionKey("watched")!)).toBe("Watched recordings");
    expect(actionKey("teleported")).toBeNull();
    expect(actionKey("toString")).toBeNull();
  });

  it("users of the filter: grant users and everyone seen in records, kept across loads, by name", () => {
    const known = new Map<string, string>();
    expect(auditUsers(known, [{ id: "u2", name: "Nanny" }], [])).toEqual([{ id: "u2", name: "Nanny" }]);
    const seen = auditUsers(known, [], [
      record({ user_id: "a1", user: "Admin" }),
      record({ user_id: null, user: "administrator (Home Assistant settings)" }),
      record({ user_id: "u2", user: "Nanny" }),
    ]);
    expect(seen).toEqual([
      { id: "a1", name: "Admin" },
      { id: "u2", name: "Nanny" },
    ]);
    // A later load filtered to one user still offers the others.
    expect(auditUsers(known, [], [record({ user_id: "u2", user: "Nanny" })])).toEqual(seen);
  });
});
