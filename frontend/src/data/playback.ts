/** `cctv_nvr/playback`: a signed, expiring HLS playlist URL of a camera's footage in a range. */
import type { FootageRange, HomeAssistant, WsMessage } from "./connection";

export interface PlaybackRequest extends WsMessage, FootageRange {
  type: "cctv_nvr/playback";
  hevc?: boolean; // whether this browser decodes the footage's H.265; false: H.264 renditions
}

export interface Playback {
  url: string;
  start: number; // the range asked for, in whole seconds
  end: number;
  first: number; // the start of the first segment in the playlist
  last: number; // the end of the last one
  expires: number;
  codecs: string[]; // the footage's video codec strings, e.g. "hvc1.1.6.L120.90"
  rendition: boolean; // the playlist lists H.264 renditions of its H.265 footage
}

export const playbackMessage = (range: FootageRange, hevc?: boolean): PlaybackRequest => ({
  type: "cctv_nvr/playback",
  camera: range.camera,
  start: range.start,
  end: range.end,
  ...(hevc === undefined ? {} : { hevc }),
});

/** Whether a codec string names H.265 (`hvc1...`, `hev1...`). */
export const isHevc = (codec: string): boolean => /^(hvc1|hev1)\./.test(codec);

/** What this browser says about a video codec string (false where MSE is missing). */
export type CodecCheck = (codec: string) => boolean;

export const browserPlays: CodecCheck = (codec) => {
  const mediaSource = (globalThis as { MediaSource?: typeof MediaSource }).MediaSource;
  const type = `video/mp4; codecs="${codec}"`;
  if (mediaSource?.isTypeSupported) return mediaSource.isTypeSupported(type);
  // Native HLS (Safari on iOS without MSE): ask the video element.
  const video = globalThis.document?.createElement("video");
  return !!video && video.canPlayType(type) !== "";
};

/**
 * The playlist of a range, playable here: the stored stream when this browser decodes every
 * codec of the footage (asked with the footage's own H.265 profile and level), otherwise
 * one whose H.265 footage is listed as H.264 renditions (a second request).
 */
export const fetchPlayback = async (
  hass: HomeAssistant,
  range: FootageRange,
  plays: CodecCheck = browserPlays,
): Promise<Playback> => {
  const stored = await hass.callWS<Playback>(playbackMessage(range));
  const hevc = (stored.codecs ?? []).filter(isHevc);
  if (hevc.length === 0 || hevc.every((codec) => plays(codec))) return stored;
  return hass.callWS<Playback>(playbackMessage(range, false));
};
