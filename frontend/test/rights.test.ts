import { describe, expect, it } from "vitest";
import type { Camera } from "../src/data/cameras";
import { cameraActions, liveSource, liveState, liveTile, reopenCamera, tabsFor } from "../src/rights";

const camera = (extra: Partial<Camera> = {}): Camera => ({
  id: "driveway",
  name: "Driveway",
  entry_id: "e1",
  entity_id: "camera.driveway",
  online: true,
  recording: true,
  continuous: true,
  manual: false,
  rights: ["control", "export", "live", "recordings"],
  live_now: true,
  live_panel_only: false,
  ...extra,
});

describe("rights decide what the panel offers", () => {
  it("an administrator gets every action", () => {
    expect(cameraActions(camera(), true)).toEqual({
      live: "live",
      recordings: true,
      export: true,
      admin: true,
      select: true,
    });
  });

  it("a user with every right: no administrators' actions", () => {
    const actions = cameraActions(camera(), false);
    expect(actions.admin).toBe(false);
    expect(actions.export).toBe(true);
    expect(actions.select).toBe(true);
  });

  it("recordings without export: playback, nothing to select, no export button", () => {
    expect(cameraActions(camera({ rights: ["recordings"], live_now: false }), false)).toEqual({
      live: "no_right",
      recordings: true,
      export: false,
      admin: false,
      select: false,
    });
  });

  it("export without recordings offers nothing (an export needs footage the user may see)", () => {
    const actions = cameraActions(camera({ rights: ["export", "live"] }), false);
    expect(actions.recordings).toBe(false);
    expect(actions.export).toBe(false);
    expect(actions.select).toBe(false);
  });

  it("live: only inside the time windows; a camera kept to the panel has no Home Assistant card", () => {
    expect(liveState(camera({ live_now: false }))).toBe("not_now");
    expect(liveState(camera({ rights: ["recordings"], live_now: false }))).toBe("no_right");
    expect(liveTile(camera())).toBe("card");
    expect(liveTile(camera({ live_now: false }))).toBe("not_now");
    expect(liveTile(camera({ live_panel_only: true }))).toBe("panel");
    expect(liveTile(camera({ live_panel_only: true, live_now: false }))).toBe("not_now");
  });
});

describe("what a live tile plays", () => {
  const grid = { enlarged: false, ownFailed: false };
  it("the panel's own live video while the camera records, Home Assistant's card otherwise", () => {
    expect(liveSource(camera(), grid)).toBe("panel");
    expect(liveSource(camera({ recording: false }), grid)).toBe("card");
    expect(liveSource(camera(), { enlarged: false, ownFailed: true })).toBe("card");
    expect(liveSource(camera(), { enlarged: true, ownFailed: false })).toBe("card");
  });

  it("a camera kept to the panel always plays the own video; no live right or not now: nothing", () => {
    const kept = camera({ live_panel_only: true, recording: false });
    expect(liveSource(kept, grid)).toBe("panel");
    expect(liveSource(kept, { enlarged: true, ownFailed: true })).toBe("panel");
    expect(liveSource(camera({ live_now: false }), grid)).toBeNull();
    expect(liveSource(camera({ rights: ["recordings"] }), grid)).toBeNull();
    expect(liveSource(camera({ live_panel_only: true, live_now: false }), grid)).toBeNull();
  });
});

describe("the open camera when the camera list comes again", () => {
  it("stays open with the fresh rights while recordings are allowed", () => {
    const open = camera();
    const fresh = camera({ rights: ["recordings"] });
    expect(reopenCamera(open, [camera({ id: "garden" }), fresh])).toEqual({ camera: fresh, closed: false });
  });

  it("closes when the camera is gone or its recordings are no longer allowed", () => {
    expect(reopenCamera(camera(), [camera({ id: "garden" })])).toEqual({ camera: null, closed: true });
    expect(reopenCamera(camera(), [camera({ rights: ["live"] })])).toEqual({ camera: null, closed: true });
  });

  it("nothing open: nothing to close", () => {
    expect(reopenCamera(null, [camera()])).toEqual({ camera: null, closed: false });
  });
});

describe("tabs", () => {
  it("access and audit for administrators only", () => {
    expect(tabsFor(true)).toEqual(["live", "exports", "storage", "access", "audit"]);
    expect(tabsFor(false)).toEqual(["live", "exports", "storage"]);
  });
});
