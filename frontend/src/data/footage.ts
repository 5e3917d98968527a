/**
 * The administrators' actions on a camera's footage in a range: `cctv_nvr/protect`,
 * `cctv_nvr/unprotect` (keep it from, or return it to, automatic deletion) and `cctv_nvr/delete`.
 */
import type { FootageRange, HomeAssistant, WsMessage } from "./connection";

export type FootageAction = "protect" | "unprotect" | "delete";

export interface FootageRequest<A extends FootageAction = FootageAction>
  extends WsMessage,
    FootageRange {
  type: `cctv_nvr/${A}`;
}

export interface ProtectAnswer {
  segments: number; // segments changed
}

export interface DeleteAnswer {
  segments: number; // segments deleted
  bytes: number;
}

export const protectMessage = (range: FootageRange): FootageRequest<"protect"> => ({
  type: "cctv_nvr/protect",
  camera: range.camera,
  start: range.start,
  end: range.end,
});

export const unprotectMessage = (range: FootageRange): FootageRequest<"unprotect"> => ({
  type: "cctv_nvr/unprotect",
  camera: range.camera,
  start: range.start,
  end: range.end,
});

export const deleteMessage = (range: FootageRange): FootageRequest<"delete"> => ({
  type: "cctv_nvr/delete",
  camera: range.camera,
  start: range.start,
  end: range.end,
});

export const protectFootage = (hass: HomeAssistant, range: FootageRange): Promise<ProtectAnswer> =>
  hass.callWS<ProtectAnswer>(protectMessage(range));

export const unprotectFootage = (hass: HomeAssistant, range: FootageRange): Promise<ProtectAnswer> =>
  hass.callWS<ProtectAnswer>(unprotectMessage(range));

export const deleteFootage = (hass: HomeAssistant, range: FootageRange): Promise<DeleteAnswer> =>
  hass.callWS<DeleteAnswer>(deleteMessage(range));

export interface DeleteEventRequest extends WsMessage {
  type: "cctv_nvr/delete_event";
  recording_id: number;
}

/** `cctv_nvr/delete_event` (administrators only): its notification links stop working. */
export const deleteEventMessage = (recordingId: number): DeleteEventRequest => ({
  type: "cctv_nvr/delete_event",
  recording_id: recordingId,
});

export const deleteEvent = (hass: HomeAssistant, recordingId: number): Promise<{ deleted: number }> =>
  hass.callWS<{ deleted: number }>(deleteEventMessage(recordingId));
