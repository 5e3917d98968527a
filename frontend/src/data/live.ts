/** `cctv_nvr/live`: a signed URL of a camera's live HLS playlist (made from its recording). */
import type { HomeAssistant, WsMessage } from "./connection";

export interface LiveRequest extends WsMessage {
  type: "cctv_nvr/live";
  camera: string;
}

export interface Live {
  url: string;
  expires: number;
}

export const liveMessage = (camera: string): LiveRequest => ({ type: "cctv_nvr/live", camera });

export const fetchLive = (hass: HomeAssistant, camera: string): Promise<Live> =>
  hass.callWS<Live>(liveMessage(camera));
