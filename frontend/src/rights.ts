/**
 * What the panel offers a user on a camera, from the rights `cctv_nvr/cameras` answers (pure
 * functions, unit-tested with Vitest). The integration refuses everything else anyway; the
 * panel only leaves out what would be refused.
 */
import type { Camera } from "./data/cameras";

export type Right = Camera["rights"][number];

/** The live tile: the live view, or why not ("not_now": outside the user's time windows). */
export type LiveState = "live" | "not_now" | "no_right";

export interface CameraActions {
  live: LiveState;
  recordings: boolean; // the timeline and playback
  export: boolean; // the export button
  admin: boolean; // protect, unprotect, delete footage, delete an event (administrators only)
  select: boolean; // selecting a range leads somewhere: export or an administrator's action
}

export function liveState(camera: Camera): LiveState {
  if (!camera.rights.includes("live")) return "no_right";
  return camera.live_now ? "live" : "not_now";
}

/**
 * What a live tile shows: Home Assistant's live card ("card"), the panel's own live video
 * ("panel": a camera whose live video is kept to the CCTV panel offers no stream to Home
 * Assistant's cards), or why not.
 */
export type LiveTile = "card" | "panel" | Exclude<LiveState, "live">;

export function liveTile(camera: Camera): LiveTile {
  const state = liveState(camera);
  if (state !== "live") return state;
  return camera.live_panel_only ? "panel" : "card";
}

/**
 * What a live tile plays, for a camera the user may watch live now (null otherwise): the panel's
 * own live video ("panel": HLS from the recording being written, moving ~2 s after it is asked
 * for) while the camera is recording; Home Assistant's card ("card": its stream component answers
 * after 2 segments of 6 s or more, i.e. 10-15 s cold) when it is not recording, when the own video
 * failed, and in the enlarged view (WebRTC and audio as on the dashboards). A camera whose live
 * video is kept to the panel always plays the own video (Home Assistant's card has no stream).
 */
export function liveSource(camera: Camera, options: { enlarged: boolean; ownFailed: boolean }): "card" | "panel" | null {
  const tile = liveTile(camera);
  if (tile === "panel") return "panel";
  if (tile !== "card") return null;
  return camera.recording && !options.enlarged && !options.ownFailed ? "panel" : "card";
}

export function cameraActions(camera: Camera, admin: boolean): CameraActions {
  const recordings = camera.rights.includes("recordings");
  const exporting = recordings && camera.rights.includes("export");
  const adminActions = admin && recordings;
  return {
    live: liveState(camera),
    recordings,
    export: exporting,
    admin: adminActions,
    select: exporting || adminActions,
  };
}

/**
 * The open camera after the camera list was loaded again: the fresh entry (its rights may have
 * changed), or null when the user may no longer see its recordings (`closed` then says the
 * view was open and must close).
 */
export function reopenCamera(open: Camera | null, cameras: Camera[]): { camera: Camera | null; closed: boolean } {
  if (!open) return { camera: null, closed: false };
  const fresh = cameras.find((camera) => camera.id === open.id);
  if (!fresh || !fresh.rights.includes("recordings")) return { camera: null, closed: true };
  return { camera: fresh, closed: false };
}

export type Tab = "live" | "exports" | "storage" | "access" | "audit";

/** The tabs of the toolbar: Access and Audit for administrators only. */
export function tabsFor(admin: boolean): Tab[] {
  return admin ? ["live", "exports", "storage", "access", "audit"] : ["live", "exports", "storage"];
}
