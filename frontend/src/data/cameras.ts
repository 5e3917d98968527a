/** `cctv_nvr/cameras`: the cameras the user may watch, with their live state. */
import type { HomeAssistant, WsMessage } from "./connection";

export interface Camera {
  id: string;
  name: string;
  entry_id: string;
  entity_id: string | null;
  online: boolean;
  recording: boolean;
  continuous: boolean;
  manual: boolean;
}

export interface CamerasRequest extends WsMessage {
  type: "cctv_nvr/cameras";
}

export interface CamerasAnswer {
  cameras: Camera[];
  admin: boolean;
  time_zone: string;
}

export const camerasMessage = (): CamerasRequest => ({ type: "cctv_nvr/cameras" });

export const fetchCameras = (hass: HomeAssistant): Promise<CamerasAnswer> =>
  hass.callWS<CamerasAnswer>(camerasMessage());
