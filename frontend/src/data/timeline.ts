/** `cctv_nvr/timeline`: a camera's coverage, gaps and labelled recordings of a day or range. */
import type { HomeAssistant, WsMessage } from "./connection";

export type Range = [number, number];

export interface TimelineEvent {
  id: number;
  kind: string;
  label: string | null;
  start: number;
  end: number | null; // null: still running
}

export interface TimelineData {
  start: number;
  end: number;
  now: number;
  first: number | null;
  spans: Range[];
  gaps: Range[];
  events: TimelineEvent[];
  recording?: Range | null; // being recorded now: not indexed yet, not a gap
  hidden?: Range[]; // parts the user may not see (outside their time windows or look-back)
  cloud?: Range[]; // footage only in the cloud bucket (plays from there)
  both?: Range[]; // footage on the local disk and verified in the bucket
}

/** A local day ("YYYY-MM-DD" in Home Assistant's zone), or a range of at most two days. */
export type TimelineWhen = { date: string } | { start: number; end: number };

export type TimelineRequest = WsMessage & { type: "cctv_nvr/timeline"; camera: string } & TimelineWhen;

export const timelineMessage = (camera: string, when: TimelineWhen): TimelineRequest => ({
  type: "cctv_nvr/timeline",
  camera,
  ...when,
});

export const fetchTimeline = (
  hass: HomeAssistant,
  camera: string,
  when: TimelineWhen,
): Promise<TimelineData> => hass.callWS<TimelineData>(timelineMessage(camera, when));
