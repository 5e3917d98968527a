/** `cctv_nvr/playback`: a signed, expiring HLS playlist URL of a camera's footage in a range. */
import type { FootageRange, HomeAssistant, WsMessage } from "./connection";

export interface PlaybackRequest extends WsMessage, FootageRange {
  type: "cctv_nvr/playback";
}

export interface Playback {
  url: string;
  start: number; // the range asked for, in whole seconds
  end: number;
  first: number; // the start of the first segment in the playlist
  last: number; // the end of the last one
  expires: number;
}

export const playbackMessage = (range: FootageRange): PlaybackRequest => ({
  type: "cctv_nvr/playback",
  camera: range.camera,
  start: range.start,
  end: range.end,
});

export const fetchPlayback = (hass: HomeAssistant, range: FootageRange): Promise<Playback> =>
  hass.callWS<Playback>(playbackMessage(range));
