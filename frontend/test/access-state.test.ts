import { describe, expect, it } from "vitest";
import type { CameraAccess, UserGrant } from "../src/data/access";
import { localize } from "../src/strings";
import {
  DAYS,
  MAX_WINDOWS,
  RIGHTS,
  checkDraft,
  dayKey,
  daysText,
  draftOf,
  isOvernight,
  newDraft,
  newWindow,
  parseClock,
  parseLookback,
  rightKey,
  toggled,
  usersWithoutGrant,
  windowText,
} from "../src/views/access-state";

const dayName = (day: (typeof DAYS)[number]): string => localize("en", dayKey(day));

describe("editing a grant", () => {
  it("rights and days stay in their canonical order, without duplicates", () => {
    expect(toggled(["recordings"], "live", true, RIGHTS)).toEqual(["live", "recordings"]);
    expect(toggled(["live", "recordings"], "live", true, RIGHTS)).toEqual(["live", "recordings"]);
    expect(toggled(["live", "recordings"], "live", false, RIGHTS)).toEqual(["recordings"]);
    expect(toggled(["sun", "mon"], "wed", true, DAYS)).toEqual(["mon", "wed", "sun"]);
  });

  it("times of day are HH:MM from 00:00 to 23:59", () => {
    expect(parseClock("00:00")).toBe(0);
    expect(parseClock("23:59")).toBe(23 * 60 + 59);
    expect(parseClock(" 08:30 ")).toBe(510);
    for (const bad of ["24:00", "12:60", "8:30", "", "08:30:00", "noon"]) expect(parseClock(bad)).toBeNull();
  });

  it("a window ending at or before its start runs across midnight", () => {
    expect(isOvernight({ days: ["fri"], start: "22:00", end: "06:00" })).toBe(true);
    expect(isOvernight({ days: ["fri"], start: "00:00", end: "00:00" })).toBe(true); // all day
    expect(isOvernight({ days: ["fri"], start: "08:00", end: "18:00" })).toBe(false);
    expect(isOvernight({ days: ["fri"], start: "", end: "06:00" })).toBe(false);
  });

  it("the look-back: empty is all footage, else 1 to 87600 hours", () => {
    expect(parseLookback("")).toBeNull();
    expect(parseLookback("  ")).toBeNull();
    expect(parseLookback("48")).toBe(48);
    expect(parseLookback("1.5")).toBe(1.5);
    expect(parseLookback("87600")).toBe(87600);
    for (const bad of ["0", "0.5", "-3", "87601", "abc", "1e9", "Infinity"]) {
      expect(Number.isNaN(parseLookback(bad)), bad).toBe(true);
    }
  });

  it("a complete draft becomes the grant the integration takes", () => {
    const checked = checkDraft({
      user_id: "u1",
      rights: ["recordings", "live"],
      windows: [
        { days: ["sun", "mon"], start: "22:00", end: "06:00" },
        { days: ["sat"], start: " 08:00", end: "12:00 " },
      ],
      lookback: "24",
    });
    expect(checked).toEqual({
      grant: {
        rights: ["live", "recordings"],
        windows: [
          { days: ["mon", "sun"], start: "22:00", end: "06:00" },
          { days: ["sat"], start: "08:00", end: "12:00" },
        ],
        lookback_hours: 24,
      },
      errors: [],
    });
    expect(checkDraft({ ...newDraft("u1"), rights: ["export"] }).grant).toEqual({
      rights: ["export"],
      windows: [],
      lookback_hours: null,
    });
  });

  it("every problem of a draft is named, windows by their number", () => {
    const checked = checkDraft({
      user_id: "",
      rights: [],
      windows: [newWindow(), { days: [], start: "08:00", end: "" }],
      lookback: "0",
    });
    expect(checked.grant).toBeNull();
    expect(checked.errors).toEqual([
      { key: "err_no_user" },
      { key: "err_no_rights" },
      { key: "err_window_no_days", number: 2 },
      { key: "err_window_bad_time", number: 2 },
      { key: "err_lookback", max: 87600 },
    ]);
    const many = checkDraft({ ...newDraft("u1"), rights: ["live"], windows: Array.from({ length: MAX_WINDOWS + 1 }, newWindow) });
    expect(many.errors).toEqual([{ key: "err_too_many_windows", count: 14 }]);
    // Each error has its text, with its values filled in.
    expect(localize("en", "err_window_no_days", { number: 2 })).toBe("Time window 2: choose at least one day.");
  });

  it("an existing grant opens as a draft and saves unchanged", () => {
    const grant: UserGrant = {
      user_id: "u1",
      user: "Guard",
      rights: ["live", "recordings"],
      windows: [{ days: ["mon", "fri"], start: "22:00", end: "06:00" }],
      lookback_hours: 48,
    };
    const draft = draftOf(grant);
    expect(draft).toEqual({ user_id: "u1", rights: grant.rights, windows: grant.windows, lookback: "48" });
    expect(draft.windows[0]).not.toBe(grant.windows[0]); // editing the draft leaves the grant alone
    const { user_id: _id, user: _name, ...stored } = grant;
    expect(checkDraft(draft).grant).toEqual(stored);
    expect(draftOf({ ...grant, lookback_hours: null }).lookback).toBe("");
  });

  it("a new grant is for a user without one on that camera", () => {
    const camera: CameraAccess = {
      id: "garden",
      name: "Garden",
      default_rights: [],
      live_panel_only: false,
      grants: [{ user_id: "u1", user: "Guard", rights: ["live"], windows: [], lookback_hours: null }],
    };
    const users = [
      { id: "u1", name: "Guard" },
      { id: "u2", name: "Nanny" },
    ];
    expect(usersWithoutGrant(users, camera)).toEqual([{ id: "u2", name: "Nanny" }]);
  });
});

describe("texts of rights, days and windows", () => {
  it("every right and day has a name", () => {
    expect(RIGHTS.map((r) => localize("en", rightKey(r)))).toEqual(["Watch live", "Recordings", "Export", "Control recording"]);
    expect(DAYS.map(dayName)).toEqual(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
  });

  it("days: runs of three or more as a range, others listed, all seven as every day", () => {
    expect(daysText(["mon", "tue", "wed", "thu", "fri"], dayName, "Every day")).toBe("Mon–Fri");
    expect(daysText(["sat", "sun"], dayName, "Every day")).toBe("Sat, Sun");
    expect(daysText(["mon", "wed", "thu", "fri", "sun"], dayName, "Every day")).toBe("Mon, Wed–Fri, Sun");
    expect(daysText([...DAYS], dayName, "Every day")).toBe("Every day");
    expect(daysText([], dayName, "Every day")).toBe("");
  });

  it("a window across midnight says so", () => {
    expect(windowText({ days: ["fri", "sat"], start: "22:00", end: "06:00" }, dayName, "Every day", "ends the next day")).toBe(
      "Fri, Sat 22:00–06:00 (ends the next day)",
    );
    expect(windowText({ days: [...DAYS], start: "08:00", end: "18:00" }, dayName, "Every day", "ends the next day")).toBe(
      "Every day 08:00–18:00",
    );
  });
});
