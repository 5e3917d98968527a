/**
 * `cctv_nvr/exports` (the exports and export jobs the user may see), `cctv_nvr/export` (start
 * exporting a range to one MP4) and `cctv_nvr/delete_export` (administrators only).
 */
import type { FootageRange, HomeAssistant, WsMessage } from "./connection";

export interface ExportItem {
  id: number;
  camera: string;
  name: string;
  start: number;
  end: number;
  bytes: number;
  duration: number | null;
  created: number;
  expires: number | null; // when it is deleted automatically (a non-admin user's export)
  url: string; // signed, expiring download URL
}

export interface ExportJob {
  id: string;
  camera: string;
  start: number;
  end: number;
  name: string | null;
  format?: ExportFormat;
  status: "queued" | "running" | "done" | "failed";
  started: number;
  finished: number | null;
  export_id: number | null;
  error: string | null;
  position: number | null; // place in the queue while queued (1 = next)
}

export interface ExportsRequest extends WsMessage {
  type: "cctv_nvr/exports";
  camera?: string;
}

export interface ExportsAnswer {
  exports: ExportItem[]; // newest first
  jobs: ExportJob[]; // newest first
}

/** "recorded": as recorded (default); "h264": H.265 footage re-encoded for sharing. */
export type ExportFormat = "recorded" | "h264";

export interface ExportRequest extends WsMessage, FootageRange {
  type: "cctv_nvr/export";
  name?: string; // 1 to 100 characters
  format?: ExportFormat;
}

export interface DeleteExportRequest extends WsMessage {
  type: "cctv_nvr/delete_export";
  export_id: number;
}

export interface DeleteExportAnswer {
  deleted: number;
}

export const exportsMessage = (camera?: string): ExportsRequest =>
  camera === undefined ? { type: "cctv_nvr/exports" } : { type: "cctv_nvr/exports", camera };

export const exportMessage = (range: FootageRange, name?: string, format?: ExportFormat): ExportRequest => ({
  type: "cctv_nvr/export",
  camera: range.camera,
  start: range.start,
  end: range.end,
  ...(name === undefined ? {} : { name }),
  ...(format === undefined || format === "recorded" ? {} : { format }),
});

export const deleteExportMessage = (exportId: number): DeleteExportRequest => ({
  type: "cctv_nvr/delete_export",
  export_id: exportId,
});

export const fetchExports = (hass: HomeAssistant, camera?: string): Promise<ExportsAnswer> =>
  hass.callWS<ExportsAnswer>(exportsMessage(camera));

/** Starts an export; answers the job at once (its progress is in `fetchExports`). */
export const startExport = (
  hass: HomeAssistant,
  range: FootageRange,
  name?: string,
  format?: ExportFormat,
): Promise<ExportJob> => hass.callWS<ExportJob>(exportMessage(range, name, format));

export const deleteExport = (hass: HomeAssistant, exportId: number): Promise<DeleteExportAnswer> =>
  hass.callWS<DeleteExportAnswer>(deleteExportMessage(exportId));

/** Whether an export is still waiting or being written (the panel polls until none is). */
export const isActive = (job: ExportJob): boolean =>
  job.status === "running" || job.status === "queued";

export const hasRunningJob = (jobs: ExportJob[]): boolean => jobs.some(isActive);

/** What a job's line says (a string key and its values): its place in the queue while queued. */
export function jobStatus(
  job: ExportJob,
  now: number,
): { key: "export_queued" | "exporting" | "export_failed" | "export_done"; values: Record<string, string | number> } {
  switch (job.status) {
    case "queued":
      return { key: "export_queued", values: { position: job.position ?? "?" } };
    case "running":
      return { key: "exporting", values: { elapsed: Math.max(0, Math.round(now - job.started)) } };
    case "failed":
      return { key: "export_failed", values: { error: job.error ?? "" } };
    default:
      return { key: "export_done", values: {} };
  }
}
