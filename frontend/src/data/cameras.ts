/** `cctv_nvr/cameras`: the cameras the user has rights on, with their live state and rights. */
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
  rights: ("live" | "recordings" | "export" | "control")[]; // what this user may do here
  live_now: boolean; // may watch live now (inside their time windows)
  live_panel_only: boolean; // kept off Home Assistant's own views: live video only here
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
