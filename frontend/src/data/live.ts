/** `cctv_nvr/live`: a signed URL of a camera's live HLS playlist (made from its recording). */
import type { HomeAssistant, WsMessage } from "./connection";
import { browserPlays, type CodecCheck, isHevc } from "./playback";

export interface LiveRequest extends WsMessage {
  type: "cctv_nvr/live";
  camera: string;
  hevc?: boolean; // whether this browser decodes the camera's H.265; false: H.264 renditions
}

export interface Live {
  url: string;
  expires: number;
  codecs?: string[]; // the recording's video codec string, e.g. "hvc1.1.6.L120.90"
  rendition?: boolean; // the playlist's fragments are H.264 renditions of H.265
}

export const liveMessage = (camera: string, hevc?: boolean): LiveRequest =>
  hevc === undefined ? { type: "cctv_nvr/live", camera } : { type: "cctv_nvr/live", camera, hevc };

/** Thrown by `fetchLive` when the browser needs a rendition and the caller would rather not. */
export class RenditionNeeded extends Error {
  constructor() {
    super("rendition_needed");
    this.name = "RenditionNeeded";
  }
}

/**
 * The live playlist, playable here: H.264 renditions when the browser cannot decode the H.265
 * (`renditions: false`: throws `RenditionNeeded` instead, for a grid tile that has another way
 * to show the camera: renditions of live video cost a transcode per fragment, shared by all).
 */
export const fetchLive = async (
  hass: HomeAssistant,
  camera: string,
  plays: CodecCheck = browserPlays,
  renditions = true,
): Promise<Live> => {
  const live = await hass.callWS<Live>(liveMessage(camera));
  const hevc = (live.codecs ?? []).filter(isHevc);
  if (hevc.length === 0 || hevc.every((codec) => plays(codec))) return live;
  if (!renditions) throw new RenditionNeeded();
  return hass.callWS<Live>(liveMessage(camera, false));
};
