import { describe, expect, it } from "vitest";
import {
  accessMessage,
  deleteGrant,
  deleteGrantMessage,
  fetchAccess,
  type Grant,
  setDefaults,
  setDefaultsMessage,
  setGrant,
  setGrantMessage,
  subscribeAccess,
  subscribeAccessMessage,
} from "../src/data/access";
import { auditMessage, fetchAudit } from "../src/data/audit";
import { camerasMessage, fetchCameras } from "../src/data/cameras";
import type { HomeAssistant, WsMessage } from "../src/data/connection";
import {
  deleteExport,
  deleteExportMessage,
  exportMessage,
  exportsMessage,
  fetchExports,
  hasRunningJob,
  jobStatus,
  startExport,
  type ExportJob,
} from "../src/data/exports";
import {
  deleteEvent,
  deleteEventMessage,
  deleteFootage,
  deleteMessage,
  protectFootage,
  protectMessage,
  unprotectFootage,
  unprotectMessage,
} from "../src/data/footage";
import { fetchLive, liveMessage, RenditionNeeded } from "../src/data/live";
import { fetchPlayback, isHevc, playbackMessage } from "../src/data/playback";
import { fetchStorage, storageMessage } from "../src/data/storage";
import { fetchTimeline, timelineMessage } from "../src/data/timeline";
import { localize } from "../src/strings";

const range = { camera: "driveway", start: 1000.5, end: 1060 };
const grant: Grant = {
  rights: ["live", "recordings"],
  windows: [{ days: ["mon", "fri"], start: "22:00", end: "06:00" }],
  lookback_hours: 24,
};

/** A connection that keeps what it was sent and answers each call with a token of it. */
function recorder(): { hass: HomeAssistant; sent: WsMessage[] } {
  const sent: WsMessage[] = [];
  const hass: HomeAssistant = {
    states: {},
    callWS<T>(msg: WsMessage): Promise<T> {
      sent.push(msg);
      return Promise.resolve({ answered: msg.type } as T);
    },
    connection: {
      subscribeMessage<T>(callback: (message: T) => void, msg: WsMessage) {
        sent.push(msg);
        callback({ changed: true } as T);
        return Promise.resolve(() => Promise.resolve());
      },
    },
  };
  return { hass, sent };
}

describe("request messages: exactly what the integration's command schemas take", () => {
  it("cameras and storage take no arguments", () => {
    expect(camerasMessage()).toEqual({ type: "cctv_nvr/cameras" });
    expect(storageMessage()).toEqual({ type: "cctv_nvr/storage" });
  });

  it("timeline: a camera and a local date, or a range (the two are exclusive)", () => {
    expect(timelineMessage("driveway", { date: "2026-03-29" })).toEqual({
      type: "cctv_nvr/timeline",
      camera: "driveway",
      date: "2026-03-29",
    });
    const byRange = timelineMessage("garden", { start: 10, end: 20 });
    expect(byRange).toEqual({ type: "cctv_nvr/timeline", camera: "garden", start: 10, end: 20 });
    expect("date" in byRange).toBe(false);
  });

  it("playback and the footage actions: camera, start, end and nothing else", () => {
    const extra = { ...range, name: "not sent", export_id: 3 };
    expect(playbackMessage(extra)).toEqual({ type: "cctv_nvr/playback", ...range });
    expect(liveMessage("front_door")).toEqual({ type: "cctv_nvr/live", camera: "front_door" });
    expect(protectMessage(extra)).toEqual({ type: "cctv_nvr/protect", ...range });
    expect(unprotectMessage(extra)).toEqual({ type: "cctv_nvr/unprotect", ...range });
    expect(deleteMessage(extra)).toEqual({ type: "cctv_nvr/delete", ...range });
  });

  it("exports: all cameras, or one", () => {
    expect(exportsMessage()).toEqual({ type: "cctv_nvr/exports" });
    expect("camera" in exportsMessage()).toBe(false);
    expect(exportsMessage("garden")).toEqual({ type: "cctv_nvr/exports", camera: "garden" });
  });

  it("export: a range, and a name only when one is given", () => {
    expect(exportMessage(range)).toEqual({ type: "cctv_nvr/export", ...range });
    expect("name" in exportMessage(range)).toBe(false);
    expect(exportMessage(range, "Visitor")).toEqual({ type: "cctv_nvr/export", ...range, name: "Visitor" });
  });

  it("delete_export and delete_event: the id", () => {
    expect(deleteExportMessage(42)).toEqual({ type: "cctv_nvr/delete_export", export_id: 42 });
    expect(deleteEventMessage(9)).toEqual({ type: "cctv_nvr/delete_event", recording_id: 9 });
  });

  it("access: a grant carries rights, windows and a look-back; defaults only what changes", () => {
    expect(setGrantMessage("garden", "u1", grant)).toEqual({
      type: "cctv_nvr/access/set_grant",
      camera: "garden",
      user_id: "u1",
      ...grant,
    });
    expect(deleteGrantMessage("garden", "u1")).toEqual({
      type: "cctv_nvr/access/delete_grant",
      camera: "garden",
      user_id: "u1",
    });
    expect(setDefaultsMessage("garden", { live_panel_only: true })).toEqual({
      type: "cctv_nvr/access/set_defaults",
      camera: "garden",
      live_panel_only: true,
    });
  });

  it("audit: days, and a user or camera only when given", () => {
    expect(auditMessage({ from: "2026-06-03" })).toEqual({ type: "cctv_nvr/audit", from: "2026-06-03" });
    expect(auditMessage({ from: "2026-06-01", to: "2026-06-03", user_id: "u1", camera: "garden" })).toEqual({
      type: "cctv_nvr/audit",
      from: "2026-06-01",
      to: "2026-06-03",
      user_id: "u1",
      camera: "garden",
    });
  });
});

describe("wrappers send one message each and answer what Home Assistant answered", () => {
  it("every command", async () => {
    const { hass, sent } = recorder();
    const answers = await Promise.all([
      fetchCameras(hass),
      fetchTimeline(hass, "driveway", { date: "2026-10-25" }),
      fetchPlayback(hass, range),
      fetchExports(hass),
      startExport(hass, range),
      deleteExport(hass, 7),
      fetchStorage(hass),
      protectFootage(hass, range),
      unprotectFootage(hass, range),
      deleteFootage(hass, range),
      deleteEvent(hass, 12),
      fetchAccess(hass),
      setGrant(hass, "garden", "u1", grant),
      deleteGrant(hass, "garden", "u1"),
      setDefaults(hass, "garden", { default_rights: [] }),
      fetchAudit(hass, { from: "2026-06-03" }),
    ]);
    expect(sent).toEqual([
      camerasMessage(),
      timelineMessage("driveway", { date: "2026-10-25" }),
      playbackMessage(range),
      exportsMessage(),
      exportMessage(range),
      deleteExportMessage(7),
      storageMessage(),
      protectMessage(range),
      unprotectMessage(range),
      deleteMessage(range),
      deleteEventMessage(12),
      accessMessage(),
      setGrantMessage("garden", "u1", grant),
      deleteGrantMessage("garden", "u1"),
      setDefaultsMessage("garden", { default_rights: [] }),
      auditMessage({ from: "2026-06-03" }),
    ]);
    expect(answers).toEqual(sent.map((msg) => ({ answered: msg.type })));
    // One wrapper per command of the integration (the subscription below is the 17th).
    expect(new Set(sent.map((msg) => msg.type)).size).toBe(16);
  });

  it("playback: H.265 footage the browser cannot decode is asked again as H.264 renditions", async () => {
    const sent: WsMessage[] = [];
    const answer = (codecs: string[]) => (msg: WsMessage) => ({
      url: (msg as { hevc?: boolean }).hevc === false ? "/rendition" : "/stored",
      codecs,
      rendition: (msg as { hevc?: boolean }).hevc === false,
    });
    const connection = (codecs: string[]): HomeAssistant => ({
      ...recorder().hass,
      callWS<T>(msg: WsMessage): Promise<T> {
        sent.push(msg);
        return Promise.resolve(answer(codecs)(msg) as T);
      },
    });
    const asked: string[] = [];
    const noHevc = (codec: string) => (asked.push(codec), !isHevc(codec));
    // H.265 that this browser cannot decode (asked with the footage's own codec string).
    const hevc = await fetchPlayback(connection(["hvc1.1.6.L120.90"]), range, noHevc);
    expect(hevc.url).toBe("/rendition");
    expect(asked).toEqual(["hvc1.1.6.L120.90"]);
    expect(sent).toEqual([playbackMessage(range), playbackMessage(range, false)]);
    expect(sent[1]).toMatchObject({ hevc: false });
    // A browser that decodes it, and H.264 footage: the stored stream, one request.
    sent.length = 0;
    expect((await fetchPlayback(connection(["hvc1.1.6.L120.90"]), range, () => true)).url).toBe("/stored");
    expect((await fetchPlayback(connection(["avc1.64001f"]), range, noHevc)).url).toBe("/stored");
    expect(sent).toEqual([playbackMessage(range), playbackMessage(range)]);
    expect(isHevc("hev1.2.4.L153.B0")).toBe(true);
    expect(isHevc("avc1.42e01e")).toBe(false);
  });

  it("live: an H.265 camera the browser cannot decode is asked again as H.264 renditions", async () => {
    const sent: WsMessage[] = [];
    const connection = (codecs: string[]): HomeAssistant => ({
      ...recorder().hass,
      callWS<T>(msg: WsMessage): Promise<T> {
        sent.push(msg);
        return Promise.resolve({ url: "hevc" in msg ? "/h264" : "/stored", codecs, expires: 0 } as T);
      },
    });
    expect((await fetchLive(connection(["hvc1.1.6.L120.90"]), "garden", () => false)).url).toBe("/h264");
    expect(sent).toEqual([liveMessage("garden"), liveMessage("garden", false)]);
    expect((await fetchLive(connection(["hvc1.1.6.L120.90"]), "garden", () => true)).url).toBe("/stored");
    expect((await fetchLive(connection(["avc1.640028"]), "garden", () => false)).url).toBe("/stored");
    expect(liveMessage("garden", false)).toEqual({ type: "cctv_nvr/live", camera: "garden", hevc: false });
    // A grid tile that declines renditions (it has Home Assistant's card to fall back to).
    sent.length = 0;
    await expect(fetchLive(connection(["hvc1.1.6.L120.90"]), "garden", () => false, false)).rejects.toBeInstanceOf(
      RenditionNeeded,
    );
    expect(sent).toEqual([liveMessage("garden")]); // no rendition asked for
    expect((await fetchLive(connection(["hvc1.1.6.L120.90"]), "garden", () => true, false)).url).toBe("/stored");
  });

  it("export: as recorded unless H.264 for sharing is chosen", () => {
    expect(exportMessage(range, undefined, "recorded")).toEqual(exportMessage(range));
    expect(exportMessage(range, "Parcel", "h264")).toEqual({ ...exportMessage(range, "Parcel"), format: "h264" });
  });

  it("the access subscription calls back and can be undone", async () => {
    const { hass, sent } = recorder();
    let changes = 0;
    const unsubscribe = await subscribeAccess(hass, () => changes++);
    expect(sent).toEqual([subscribeAccessMessage()]);
    expect(changes).toBe(1);
    await unsubscribe();
  });

  it("a refusal reaches the caller", async () => {
    const hass: HomeAssistant = {
      states: {},
      callWS: () => Promise.reject({ code: "unauthorized", message: "Camera garden is not yours" }),
      connection: recorder().hass.connection,
    };
    await expect(deleteFootage(hass, range)).rejects.toEqual({
      code: "unauthorized",
      message: "Camera garden is not yours",
    });
  });
});

describe("export jobs", () => {
  const job = (status: ExportJob["status"]): ExportJob => ({
    id: status,
    camera: "driveway",
    start: 0,
    end: 10,
    name: null,
    status,
    started: 0,
    finished: status === "running" || status === "queued" ? null : 10,
    export_id: status === "done" ? 1 : null,
    error: status === "failed" ? "no footage" : null,
    position: status === "queued" ? 1 : null,
  });

  it("the panel polls while one is running", () => {
    expect(hasRunningJob([])).toBe(false);
    expect(hasRunningJob([job("done"), job("failed")])).toBe(false);
    expect(hasRunningJob([job("done"), job("running")])).toBe(true);
    expect(hasRunningJob([job("queued")])).toBe(true);
  });

  it("a queued job shows its place in the queue, a running one its time", () => {
    expect(jobStatus({ ...job("queued"), position: 3 }, 50)).toEqual({ key: "export_queued", values: { position: 3 } });
    expect(localize("en", "export_queued", { position: 3 })).toBe("Queued (place 3): waiting for other exports to finish…");
    expect(jobStatus({ ...job("running"), started: 10 }, 72.4)).toEqual({ key: "exporting", values: { elapsed: 62 } });
    expect(jobStatus(job("failed"), 50)).toEqual({ key: "export_failed", values: { error: "no footage" } });
    expect(jobStatus(job("done"), 50)).toEqual({ key: "export_done", values: {} });
  });
});
