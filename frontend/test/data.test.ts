import { describe, expect, it } from "vitest";
import { camerasMessage, fetchCameras } from "../src/data/cameras";
import type { HomeAssistant, WsMessage } from "../src/data/connection";
import {
  deleteExport,
  deleteExportMessage,
  exportMessage,
  exportsMessage,
  fetchExports,
  hasRunningJob,
  startExport,
  type ExportJob,
} from "../src/data/exports";
import {
  deleteFootage,
  deleteMessage,
  protectFootage,
  protectMessage,
  unprotectFootage,
  unprotectMessage,
} from "../src/data/footage";
import { fetchPlayback, playbackMessage } from "../src/data/playback";
import { fetchStorage, storageMessage } from "../src/data/storage";
import { fetchTimeline, timelineMessage } from "../src/data/timeline";

const range = { camera: "driveway", start: 1000.5, end: 1060 };

/** A connection that keeps what it was sent and answers each call with a token of it. */
function recorder(): { hass: HomeAssistant; sent: WsMessage[] } {
  const sent: WsMessage[] = [];
  const hass: HomeAssistant = {
    states: {},
    callWS<T>(msg: WsMessage): Promise<T> {
      sent.push(msg);
      return Promise.resolve({ answered: msg.type } as T);
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

  it("delete_export: the export's id", () => {
    expect(deleteExportMessage(42)).toEqual({ type: "cctv_nvr/delete_export", export_id: 42 });
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
    ]);
    expect(answers).toEqual(sent.map((msg) => ({ answered: msg.type })));
    // One wrapper per command of the integration.
    expect(new Set(sent.map((msg) => msg.type)).size).toBe(10);
  });

  it("a refusal reaches the caller", async () => {
    const hass: HomeAssistant = {
      states: {},
      callWS: () => Promise.reject({ code: "unauthorized", message: "Camera garden is not yours" }),
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
    finished: status === "running" ? null : 10,
    export_id: status === "done" ? 1 : null,
    error: status === "failed" ? "no footage" : null,
  });

  it("the panel polls while one is running", () => {
    expect(hasRunningJob([])).toBe(false);
    expect(hasRunningJob([job("done"), job("failed")])).toBe(false);
    expect(hasRunningJob([job("done"), job("running")])).toBe(true);
  });
});
